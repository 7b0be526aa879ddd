-- Schema `inventory`: warehouses, stock per product and warehouse, reservations with their
-- allocations, and the stock ledger (every change of on_hand or reserved, and why). Product
-- ids come from CatalogService and are kept as the opaque text they travel as.

CREATE TABLE warehouses (
  id uuid PRIMARY KEY,
  code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{2,10}$'),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  region_code text NOT NULL CHECK (region_code ~ '^[A-Z]{2}$'),
  created_at timestamptz NOT NULL
);
-- ListWarehouses: by name, then id (the keyset position).
CREATE INDEX warehouses_by_name ON warehouses (name, id);

-- One row per product and warehouse once stock was recorded. 0 <= reserved <= on_hand holds
-- here as well as in the code: no statement can oversell, whatever the concurrency.
CREATE TABLE stock (
  product_id text NOT NULL CHECK (char_length(product_id) BETWEEN 1 AND 64),
  warehouse_id uuid NOT NULL REFERENCES warehouses (id),
  on_hand int8 NOT NULL CHECK (on_hand >= 0),
  reserved int8 NOT NULL CHECK (reserved >= 0),
  -- The optimistic concurrency version: 1 when created, one more per change.
  version int8 NOT NULL CHECK (version >= 1),
  updated_at timestamptz NOT NULL,
  CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand),
  PRIMARY KEY (product_id, warehouse_id)
);

CREATE TABLE reservations (
  id uuid PRIMARY KEY,
  order_id text NOT NULL CHECK (char_length(order_id) BETWEEN 1 AND 64),
  status text NOT NULL CHECK (status IN ('ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
  -- When it was committed, released or expired; NULL exactly while active.
  finished_at timestamptz,
  -- Why it was released (ReleaseReservation's reason).
  release_reason text CHECK (char_length(release_reason) <= 500),
  CHECK ((status = 'ACTIVE') = (finished_at IS NULL))
);
-- The expiry sweeper's queue.
CREATE INDEX reservations_active_by_expiry ON reservations (expires_at) WHERE status = 'ACTIVE';
CREATE INDEX reservations_by_order ON reservations (order_id);

-- Where a reservation's units are held: one or more allocations per request line.
CREATE TABLE reservation_allocations (
  reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
  line_index int4 NOT NULL CHECK (line_index BETWEEN 0 AND 99),
  product_id text NOT NULL CHECK (char_length(product_id) BETWEEN 1 AND 64),
  warehouse_id uuid NOT NULL REFERENCES warehouses (id),
  quantity int8 NOT NULL CHECK (quantity BETWEEN 1 AND 999),
  PRIMARY KEY (reservation_id, line_index, warehouse_id)
);

-- The stock ledger: one entry per change of a stock row, with the row's values after it.
CREATE TABLE stock_ledger (
  seq int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id text NOT NULL,
  warehouse_id uuid NOT NULL,
  -- SET (SetStock), ADJUST (AdjustStock), RESERVE, COMMIT, RELEASE, EXPIRE (reservations).
  kind text NOT NULL CHECK (kind IN ('SET', 'ADJUST', 'RESERVE', 'COMMIT', 'RELEASE', 'EXPIRE')),
  -- AdjustStock's StockAdjustmentReason value name, without its prefix.
  reason text,
  on_hand_delta int8 NOT NULL,
  reserved_delta int8 NOT NULL,
  on_hand_after int8 NOT NULL CHECK (on_hand_after >= 0),
  reserved_after int8 NOT NULL CHECK (reserved_after >= 0 AND reserved_after <= on_hand_after),
  reservation_id uuid,
  -- Who made the change: "user:<id>" or "service:<name>".
  actor text NOT NULL,
  note text CHECK (char_length(note) <= 500),
  created_at timestamptz NOT NULL
);
CREATE INDEX stock_ledger_by_row ON stock_ledger (product_id, warehouse_id, seq);
CREATE INDEX stock_ledger_by_reservation ON stock_ledger (reservation_id) WHERE reservation_id IS NOT NULL;
