-- A seller's count of active products, kept with every change of a product's status
-- (CatalogStore.createProduct, changeProduct, copyCatalog), so a product page reads it from
-- the seller's row instead of counting the seller's products on every load.
ALTER TABLE sellers ADD COLUMN active_products int8 NOT NULL DEFAULT 0 CHECK (active_products >= 0);

UPDATE sellers s SET active_products = c.n
FROM (SELECT seller_id, count(*) AS n FROM products WHERE status = 'ACTIVE' GROUP BY seller_id) c
WHERE c.seller_id = s.id;
