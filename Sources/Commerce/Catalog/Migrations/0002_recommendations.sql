-- Recommendations (GetRecommendations): what the catalog learns of purchases from OrderService
-- (RecordPurchases), kept as counters updated in the transaction that records an order, so that
-- every recommendation is an index lookup and never a scan of order history.

-- The orders recorded, one row each: RecordPurchases is idempotent by order id.
CREATE TABLE purchases (
  order_id uuid PRIMARY KEY,
  customer_id uuid NOT NULL,
  purchased_at timestamptz NOT NULL,
  -- How many distinct products the order held (before the pair cap).
  product_count int4 NOT NULL CHECK (product_count >= 1),
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- n(p): in how many orders each product was bought, and how many units in all.
CREATE TABLE product_purchases (
  product_id uuid PRIMARY KEY,
  orders int8 NOT NULL CHECK (orders >= 1),
  units int8 NOT NULL CHECK (units >= 1)
);

-- co(a, b): in how many orders products a and b were bought together. Both directions are
-- stored, so that the products bought with a are one range of the primary key.
CREATE TABLE co_purchases (
  product_id uuid NOT NULL,
  other_product_id uuid NOT NULL,
  orders int8 NOT NULL CHECK (orders >= 1),
  PRIMARY KEY (product_id, other_product_id),
  CHECK (product_id <> other_product_id)
);

-- Units and orders per product and UTC day, for best sellers over a recent window.
CREATE TABLE daily_sales (
  day date NOT NULL,
  product_id uuid NOT NULL,
  units int8 NOT NULL CHECK (units >= 1),
  orders int8 NOT NULL CHECK (orders >= 1),
  PRIMARY KEY (day, product_id)
);

-- What each customer bought: the seeds of their recommendations, and what is never suggested
-- to them again.
CREATE TABLE customer_products (
  customer_id uuid NOT NULL,
  product_id uuid NOT NULL,
  orders int8 NOT NULL CHECK (orders >= 1),
  last_purchased_at timestamptz NOT NULL,
  PRIMARY KEY (customer_id, product_id)
);
CREATE INDEX customer_products_recent ON customer_products (customer_id, last_purchased_at DESC);

