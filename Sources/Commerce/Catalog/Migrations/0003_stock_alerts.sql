-- The dashboard's stock alerts (GetStockAlerts): the products with the fewest units available.
CREATE INDEX stock_levels_by_available ON stock_levels (available, product_id);
