-- The shared commerce layer's tables, created in every service's own schema (the migrator
-- runs with search_path set to it), recorded in <schema>.platform_migrations.

-- IdempotencyStore: one row per (caller, method, key), kept at least 24 hours (common.proto).
CREATE TABLE idempotency_keys (
  scope text NOT NULL CHECK (length(scope) BETWEEN 1 AND 300),
  method text NOT NULL CHECK (length(method) BETWEEN 1 AND 200),
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
  request_hash bytea NOT NULL,
  state text NOT NULL CHECK (state IN ('running', 'done')),
  -- The claim of a running call lapses here, so a crashed server's key can be taken over.
  lease_expires_at timestamptz NOT NULL,
  status_code integer CHECK (status_code BETWEEN 0 AND 16),
  response bytea,
  error_message text,
  error_details bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (scope, method, key),
  CHECK (state = 'running' OR (status_code IS NOT NULL AND finished_at IS NOT NULL)),
  CHECK (status_code IS DISTINCT FROM 0 OR response IS NOT NULL)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Outbox: events written in the same transaction as the change they describe; a relay
-- delivers them in id order and marks them published. NOTIFY <schema>_outbox wakes it.
CREATE TABLE outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL CHECK (length(topic) BETWEEN 1 AND 200),
  aggregate_id text NOT NULL,
  payload bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
