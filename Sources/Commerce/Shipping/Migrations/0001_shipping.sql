-- Schema `shipping`: shipments with their lines, the units of each order line already in a
-- shipment, and the tracking events partners report. Order, order line, product, seller,
-- customer and warehouse ids come from other services and are kept as the opaque text they
-- travel as.

CREATE TABLE shipments (
  id uuid PRIMARY KEY,
  order_id text NOT NULL CHECK (char_length(order_id) BETWEEN 1 AND 64),
  -- The order's customer, copied from OrderService.GetOrder when the shipment was created: who
  -- may read it.
  customer_id text NOT NULL,
  seller_id text NOT NULL,
  carrier_id text NOT NULL CHECK (carrier_id ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
  tracking_number text NOT NULL CHECK (char_length(tracking_number) BETWEEN 1 AND 64),
  status text NOT NULL CHECK (status IN ('LABEL_CREATED', 'PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED',
    'DELIVERY_FAILED', 'RETURNED_TO_SENDER', 'LOST', 'CANCELLED')),
  shipping_speed int4 NOT NULL CHECK (shipping_speed BETWEEN 1 AND 3),
  -- An Address message, serialized.
  destination bytea NOT NULL,
  warehouse_id text NOT NULL,
  estimated_delivery_at timestamptz,
  -- The sequence of the latest event by occur time (ties: the later recorded); NULL before the
  -- first report.
  latest_sequence int8,
  -- The last event sequence given out (events are numbered 1, 2, 3... per shipment).
  last_sequence int8 NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
  -- Whether the carrier has had the parcel (the SHIPMENT_SHIPPED order event was written).
  handed_over bool NOT NULL DEFAULT false,
  cancel_reason text CHECK (char_length(cancel_reason) <= 500),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  delivered_at timestamptz,
  cancelled_at timestamptz,
  version int8 NOT NULL CHECK (version >= 1),
  CHECK ((status = 'DELIVERED') = (delivered_at IS NOT NULL)),
  CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL)),
  CHECK (NOT (handed_over AND status = 'CANCELLED')),
  UNIQUE (carrier_id, tracking_number)
);
-- ListShipments: an order's shipments, oldest first.
CREATE INDEX shipments_by_order ON shipments (order_id, created_at, id);

CREATE TABLE shipment_lines (
  shipment_id uuid NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
  line_index int4 NOT NULL CHECK (line_index BETWEEN 0 AND 99),
  order_line_id text NOT NULL,
  product_id text NOT NULL,
  quantity int4 NOT NULL CHECK (quantity >= 1),
  PRIMARY KEY (shipment_id, line_index),
  UNIQUE (shipment_id, order_line_id)
);

-- The units of each order line in shipments that are not cancelled: never more than ordered.
-- CreateShipment locks an order's rows (in order_line_id order) before it allocates.
CREATE TABLE order_line_units (
  order_line_id text PRIMARY KEY,
  order_id text NOT NULL,
  ordered int4 NOT NULL CHECK (ordered >= 1),
  in_shipments int4 NOT NULL DEFAULT 0,
  CHECK (in_shipments BETWEEN 0 AND ordered)
);
CREATE INDEX order_line_units_by_order ON order_line_units (order_id, order_line_id);

CREATE TABLE tracking_events (
  id uuid PRIMARY KEY,
  shipment_id uuid NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
  -- The order of recording within the shipment (WatchShipment resumes after one).
  sequence int8 NOT NULL CHECK (sequence >= 1),
  status text NOT NULL,
  -- A TrackingLocation message, serialized; NULL when none was reported.
  location bytea,
  occur_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL,
  note text NOT NULL CHECK (char_length(note) <= 500),
  reporter_id text NOT NULL,
  -- The partner's id of the report; a report is recorded at most once per shipment.
  partner_event_id text CHECK (char_length(partner_event_id) BETWEEN 1 AND 200),
  UNIQUE (shipment_id, sequence),
  UNIQUE (shipment_id, partner_event_id)
);
-- TrackShipment's timeline.
CREATE INDEX tracking_events_by_occurrence ON tracking_events (shipment_id, occur_at, sequence);
