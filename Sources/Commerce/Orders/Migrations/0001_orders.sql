-- Schema `orders`: orders with their lines and status history, the checkout saga's log and
-- ownership, and the events ApplyOrderEvent applied (for deduplication). Product, seller,
-- customer, payment, reservation, shipment and return ids come from other services and are
-- kept as the opaque text they travel as.

CREATE TABLE orders (
  id uuid PRIMARY KEY,
  customer_id text NOT NULL CHECK (char_length(customer_id) BETWEEN 1 AND 64),
  -- Checkout's idempotency key and the SHA-256 of its request: one order per customer and key.
  checkout_key text NOT NULL CHECK (char_length(checkout_key) BETWEEN 1 AND 128),
  request_hash bytea NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING', 'AWAITING_PAYMENT', 'CONFIRMED', 'PACKED', 'SHIPPED', 'DELIVERED',
    'CANCELLED', 'FAILED', 'RETURN_REQUESTED', 'PARTIALLY_REFUNDED', 'REFUNDED')),
  -- The optimistic concurrency version: 1 when created, one more per change.
  version int8 NOT NULL CHECK (version >= 1),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  subtotal_minor int8 NOT NULL CHECK (subtotal_minor >= 0),
  shipping_minor int8 NOT NULL CHECK (shipping_minor >= 0),
  tax_minor int8 NOT NULL CHECK (tax_minor >= 0),
  total_minor int8 NOT NULL CHECK (total_minor >= 1),
  refunded_minor int8 NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= total_minor),
  shipping_speed int4 NOT NULL CHECK (shipping_speed BETWEEN 1 AND 3),
  -- Address and PaymentMethodSummary messages, serialized.
  shipping_address bytea NOT NULL,
  billing_address bytea NOT NULL,
  payment_id text,
  payment_status int4 NOT NULL DEFAULT 0,
  payment_method bytea,
  payment_captured bool NOT NULL DEFAULT false,
  reservation_id text,
  reservation_expires_at timestamptz,
  reservation_committed bool NOT NULL DEFAULT false,
  shipment_ids text[] NOT NULL DEFAULT '{}',
  shipped_shipment_ids text[] NOT NULL DEFAULT '{}',
  delivered_shipment_ids text[] NOT NULL DEFAULT '{}',
  return_ids text[] NOT NULL DEFAULT '{}',
  open_return_ids text[] NOT NULL DEFAULT '{}',
  -- Why checkout failed (FAILED only): the error Checkout answers, replayed to retries.
  failure_code int4,
  failure_reason text,
  failure_message text,
  failure_details bytea,
  decline_reason int4 NOT NULL DEFAULT 0,
  short_product_ids text[] NOT NULL DEFAULT '{}',
  -- Who cancelled and why (CANCELLED only).
  cancel_reason int4,
  cancel_text text CHECK (char_length(cancel_text) <= 1000),
  cancelled_by text,
  cancelled_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  delivered_at timestamptz,
  return_window_closes_at timestamptz,
  -- The saga: 'running' while a server holds the lease, 'waiting' for an asynchronous payment
  -- result, 'done' once the order left PENDING and AWAITING_PAYMENT.
  saga_state text NOT NULL CHECK (saga_state IN ('running', 'waiting', 'done')),
  saga_owner uuid,
  saga_lease_until timestamptz,
  -- When an unfinished saga gives up (30 minutes after checkout).
  saga_deadline timestamptz NOT NULL,
  -- Whether the order was placed from the cart (its bought lines leave the cart once CONFIRMED).
  from_cart bool NOT NULL,
  CHECK (total_minor = subtotal_minor + shipping_minor + tax_minor),
  CHECK ((status = 'FAILED') = (failure_code IS NOT NULL)),
  CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL)),
  CHECK ((saga_state = 'done') = (status NOT IN ('PENDING', 'AWAITING_PAYMENT'))),
  CHECK (status NOT IN ('AWAITING_PAYMENT', 'CONFIRMED', 'PACKED', 'SHIPPED', 'DELIVERED') OR reservation_id IS NOT NULL),
  UNIQUE (customer_id, checkout_key)
);
-- ListOrders: a customer's orders, newest first (the keyset position).
CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_by_time ON orders (created_at DESC, id DESC);
-- The recovery worker's queue.
CREATE INDEX orders_unfinished ON orders (saga_lease_until) WHERE saga_state <> 'done';

CREATE TABLE order_lines (
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_index int4 NOT NULL CHECK (line_index BETWEEN 0 AND 99),
  id uuid NOT NULL UNIQUE,
  product_id text NOT NULL CHECK (char_length(product_id) BETWEEN 1 AND 64),
  seller_id text NOT NULL,
  title text NOT NULL,
  image_url text NOT NULL,
  unit_price_minor int8 NOT NULL CHECK (unit_price_minor >= 0),
  quantity int4 NOT NULL CHECK (quantity BETWEEN 1 AND 99),
  line_total_minor int8 NOT NULL,
  tax_minor int8 NOT NULL CHECK (tax_minor >= 0),
  packed_quantity int4 NOT NULL DEFAULT 0,
  shipped_quantity int4 NOT NULL DEFAULT 0,
  refunded_quantity int4 NOT NULL DEFAULT 0,
  CHECK (line_total_minor = unit_price_minor * quantity),
  CHECK (packed_quantity BETWEEN 0 AND quantity),
  CHECK (shipped_quantity BETWEEN 0 AND quantity),
  CHECK (refunded_quantity BETWEEN 0 AND quantity),
  PRIMARY KEY (order_id, line_index)
);
-- Sellers' orders.
CREATE INDEX order_lines_by_seller ON order_lines (seller_id, order_id);

CREATE TABLE status_history (
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  seq int4 NOT NULL,
  status text NOT NULL,
  changed_at timestamptz NOT NULL,
  note text NOT NULL,
  PRIMARY KEY (order_id, seq)
);

-- The saga log: every step of checkout and of its compensation, in the transaction that
-- records its effect on the order.
CREATE TABLE saga_log (
  seq int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  step text NOT NULL,
  detail text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX saga_log_by_order ON saga_log (order_id, seq);

-- Events ApplyOrderEvent applied, by the reporter's event id.
CREATE TABLE applied_events (
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  event_id text NOT NULL CHECK (char_length(event_id) BETWEEN 1 AND 200),
  kind int4 NOT NULL,
  applied_at timestamptz NOT NULL,
  PRIMARY KEY (order_id, event_id)
);
