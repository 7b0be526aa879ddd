-- Schema `support`: tickets with their message threads, and returns (RMAs) with their lines.
-- Customer, agent, seller, order, order line, product and warehouse ids come from other
-- services and are kept as the opaque text they travel as. Enumerations are stored as their
-- contract numbers.

CREATE TABLE tickets (
  id uuid PRIMARY KEY,
  customer_id text NOT NULL,
  subject text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
  -- TicketCategory, never UNSPECIFIED (stored as OTHER).
  category int4 NOT NULL CHECK (category BETWEEN 1 AND 7),
  -- TicketStatus: 1 OPEN, 2 AWAITING_CUSTOMER, 3 RESOLVED, 4 CLOSED.
  status int4 NOT NULL CHECK (status BETWEEN 1 AND 4),
  order_id text NOT NULL DEFAULT '',
  assignee_id text NOT NULL DEFAULT '',
  -- Every message, and the messages the customer sees (not internal notes).
  message_count int4 NOT NULL DEFAULT 0 CHECK (message_count >= 0),
  public_message_count int4 NOT NULL DEFAULT 0 CHECK (public_message_count BETWEEN 0 AND message_count),
  last_message_at timestamptz NOT NULL,
  last_public_message_at timestamptz NOT NULL,
  -- When the ticket became RESOLVED; the sweeper closes it 14 days later.
  resolved_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  version int8 NOT NULL CHECK (version >= 1),
  CHECK ((status = 3) = (resolved_at IS NOT NULL))
);
-- ListTickets: most recently updated first, for everyone and per customer.
CREATE INDEX tickets_by_update ON tickets (updated_at DESC, id DESC);
CREATE INDEX tickets_by_customer ON tickets (customer_id, updated_at DESC, id DESC);
-- The sweeper's RESOLVED tickets.
CREATE INDEX tickets_resolved ON tickets (resolved_at) WHERE status = 3;

CREATE TABLE ticket_messages (
  id uuid PRIMARY KEY,
  ticket_id uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
  -- The order within the ticket (1, 2, 3...); ListTicketMessages pages by it.
  sequence int8 NOT NULL CHECK (sequence >= 1),
  author_id text NOT NULL,
  -- TicketAuthorRole: 1 CUSTOMER, 2 AGENT, 3 SYSTEM.
  author_role int4 NOT NULL CHECK (author_role BETWEEN 1 AND 3),
  body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
  internal_note bool NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (ticket_id, sequence)
);

-- One row per order that has had a return: RequestReturn and ReceiveReturn lock it
-- (SELECT ... FOR UPDATE) before they count the order's returned units, so concurrent returns
-- of one order never together exceed what was delivered.
CREATE TABLE order_locks (
  order_id text PRIMARY KEY
);

CREATE TABLE returns (
  id uuid PRIMARY KEY,
  rma_code text NOT NULL UNIQUE,
  order_id text NOT NULL REFERENCES order_locks (order_id),
  customer_id text NOT NULL,
  seller_id text NOT NULL,
  -- ReturnStatus: 1 REQUESTED, 2 APPROVED, 3 REJECTED, 4 RECEIVED, 5 REFUNDED, 6 CANCELLED,
  -- 7 EXPIRED.
  status int4 NOT NULL CHECK (status BETWEEN 1 AND 7),
  customer_comment text NOT NULL CHECK (char_length(customer_comment) <= 2000),
  decision_note text NOT NULL DEFAULT '' CHECK (char_length(decision_note) <= 2000),
  return_label_url text NOT NULL DEFAULT '',
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  -- The order's payment, refunded when the units arrive.
  payment_id text NOT NULL,
  warehouse_id text NOT NULL DEFAULT '',
  refund_id text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  expire_at timestamptz,
  receive_at timestamptz,
  refund_at timestamptz,
  version int8 NOT NULL CHECK (version >= 1),
  CHECK ((status = 2) = (expire_at IS NOT NULL)),
  CHECK ((status IN (4, 5)) = (receive_at IS NOT NULL)),
  CHECK ((status = 5) = (refund_at IS NOT NULL))
);
-- ListReturns: newest first, overall, per customer, per seller, per order.
CREATE INDEX returns_by_time ON returns (created_at DESC, id DESC);
CREATE INDEX returns_by_customer ON returns (customer_id, created_at DESC, id DESC);
CREATE INDEX returns_by_seller ON returns (seller_id, created_at DESC, id DESC);
CREATE INDEX returns_by_order ON returns (order_id);
-- The sweeper's APPROVED returns.
CREATE INDEX returns_approved ON returns (expire_at) WHERE status = 2;

CREATE TABLE return_lines (
  return_id uuid NOT NULL REFERENCES returns (id) ON DELETE CASCADE,
  line_index int4 NOT NULL CHECK (line_index BETWEEN 0 AND 99),
  order_line_id text NOT NULL,
  product_id text NOT NULL,
  title text NOT NULL,
  quantity int4 NOT NULL CHECK (quantity >= 1),
  -- ReturnReason, never UNSPECIFIED.
  reason int4 NOT NULL CHECK (reason BETWEEN 1 AND 7),
  received_quantity int4 NOT NULL DEFAULT 0 CHECK (received_quantity BETWEEN 0 AND quantity),
  -- ItemCondition; 0 before the return is received.
  condition int4 NOT NULL DEFAULT 0 CHECK (condition BETWEEN 0 AND 2),
  -- The order line as checkout froze it: unit price, units ordered, tax of the whole line.
  unit_price_minor int8 NOT NULL CHECK (unit_price_minor >= 0),
  line_quantity int4 NOT NULL CHECK (line_quantity >= quantity),
  line_tax_minor int8 NOT NULL CHECK (line_tax_minor >= 0),
  -- The refund of the received units (price and their share of the tax); NULL before receipt.
  refund_minor int8 CHECK (refund_minor >= 0),
  PRIMARY KEY (return_id, line_index),
  UNIQUE (return_id, order_line_id)
);
CREATE INDEX return_lines_by_order_line ON return_lines (order_line_id);
