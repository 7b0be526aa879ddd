-- Schema `payments`: payments (one row per authorization attempt), their refunds, and the
-- payment ledger (one row per provider action and per provider event). Raw card numbers and
-- card tokens are never stored: a payment keeps the card's brand, last four digits and expiry.
-- Amounts are integer minor units with the payment's currency.

CREATE TABLE payments (
  id uuid PRIMARY KEY,
  -- Creation order: ListPayments pages newest first by it (the keyset position).
  seq int8 GENERATED ALWAYS AS IDENTITY UNIQUE,
  order_id text NOT NULL CHECK (char_length(order_id) BETWEEN 1 AND 64),
  customer_id text NOT NULL CHECK (char_length(customer_id) BETWEEN 1 AND 64),
  -- The idempotency scope (caller) and key of the AuthorizePayment call that created it: a
  -- retry after an unknown outcome finds this row and asks the provider again with the same
  -- forwarded key.
  request_scope text NOT NULL CHECK (char_length(request_scope) BETWEEN 1 AND 300),
  request_key text NOT NULL CHECK (char_length(request_key) BETWEEN 1 AND 128),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount_minor int8 NOT NULL CHECK (amount_minor > 0),
  captured_minor int8 NOT NULL DEFAULT 0,
  -- Succeeded and pending refunds.
  refunded_minor int8 NOT NULL DEFAULT 0,
  status text NOT NULL CHECK (status IN (
    'PENDING', 'AUTHORIZED', 'CAPTURED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'DECLINED', 'VOIDED', 'FAILED')),
  -- The DeclineReason value name without its prefix; set exactly when DECLINED.
  decline_reason text,
  provider_message text NOT NULL DEFAULT '' CHECK (char_length(provider_message) <= 1000),
  capture_immediately bool NOT NULL,
  card_brand text NOT NULL CHECK (card_brand IN ('UNSPECIFIED', 'VISA', 'MASTERCARD', 'AMEX', 'DISCOVER', 'OTHER')),
  card_last_four text NOT NULL CHECK (card_last_four ~ '^([0-9]{4})?$'),
  card_exp_month int4 NOT NULL CHECK (card_exp_month BETWEEN 0 AND 12),
  card_exp_year int4 NOT NULL CHECK (card_exp_year BETWEEN 0 AND 9999),
  provider_id text NOT NULL CHECK (char_length(provider_id) BETWEEN 1 AND 64),
  -- The provider's id of the payment; NULL until the provider answered.
  provider_payment_id text CHECK (char_length(provider_payment_id) BETWEEN 1 AND 255),
  authorization_expires_at timestamptz,
  -- Set when a provider event contradicted the payment's state (or a capture failed, a refund
  -- failed, a dispute opened): an admin must look at it.
  needs_review bool NOT NULL DEFAULT false,
  version int8 NOT NULL CHECK (version >= 1),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (request_scope, request_key),
  UNIQUE (provider_id, provider_payment_id),
  CHECK (captured_minor BETWEEN 0 AND amount_minor),
  CHECK (refunded_minor BETWEEN 0 AND captured_minor),
  CHECK ((status = 'DECLINED') = (decline_reason IS NOT NULL)),
  CHECK (status NOT IN ('CAPTURED', 'PARTIALLY_REFUNDED', 'REFUNDED') OR captured_minor > 0),
  CHECK (status IN ('CAPTURED', 'PARTIALLY_REFUNDED', 'REFUNDED') OR captured_minor = 0)
);
CREATE INDEX payments_by_order ON payments (order_id, seq DESC);
-- Reconciliation's queue: authorizations without a provider answer.
CREATE INDEX payments_unanswered ON payments (updated_at) WHERE status = 'PENDING' AND provider_payment_id IS NULL;

CREATE TABLE refunds (
  id uuid PRIMARY KEY,
  payment_id uuid NOT NULL REFERENCES payments (id),
  -- The idempotency scope and key of the RefundPayment call that created it.
  request_scope text NOT NULL CHECK (char_length(request_scope) BETWEEN 1 AND 300),
  request_key text NOT NULL CHECK (char_length(request_key) BETWEEN 1 AND 128),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  amount_minor int8 NOT NULL CHECK (amount_minor > 0),
  status text NOT NULL CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
  reason text NOT NULL CHECK (reason IN ('CUSTOMER_RETURN', 'ORDER_CANCELLED', 'DUPLICATE', 'FRAUD', 'GOODWILL')),
  return_id text NOT NULL DEFAULT '' CHECK (char_length(return_id) <= 64),
  note text NOT NULL DEFAULT '' CHECK (char_length(note) <= 1000),
  provider_refund_id text UNIQUE CHECK (char_length(provider_refund_id) BETWEEN 1 AND 255),
  needs_review bool NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (request_scope, request_key)
);
CREATE INDEX refunds_by_payment ON refunds (payment_id, created_at);

-- The payment ledger: every request to the provider and its result (or that the provider could
-- not be reached), and every provider event with what it did. Never updated.
CREATE TABLE payment_events (
  seq int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_id uuid NOT NULL REFERENCES payments (id),
  refund_id uuid REFERENCES refunds (id),
  kind text NOT NULL CHECK (kind IN (
    'AUTHORIZE_REQUESTED', 'AUTHORIZE_RESULT', 'CAPTURE_REQUESTED', 'CAPTURE_RESULT', 'VOID_REQUESTED', 'VOID_RESULT',
    'REFUND_REQUESTED', 'REFUND_RESULT', 'PROVIDER_UNAVAILABLE', 'PROVIDER_REJECTED', 'PROVIDER_EVENT')),
  -- The idempotency key forwarded to the provider ("<method>:<idempotency_key>").
  provider_key text,
  -- For PROVIDER_EVENT: the provider, its event id (each applied at most once) and kind.
  provider_id text,
  provider_event_id text CHECK (char_length(provider_event_id) BETWEEN 1 AND 255),
  provider_event_kind text,
  -- What happened: the result's status, or for events APPLIED, LATE (the payment had already
  -- moved past it) or CONTRADICTION (flagged for review).
  outcome text,
  amount_minor int8,
  currency text,
  status_before text,
  status_after text,
  flagged bool NOT NULL DEFAULT false,
  -- Who caused it: "user:<id>" or "service:<name>".
  actor text NOT NULL,
  detail text CHECK (char_length(detail) <= 1000),
  created_at timestamptz NOT NULL,
  UNIQUE (provider_id, provider_event_id)
);
CREATE INDEX payment_events_by_payment ON payment_events (payment_id, seq);
