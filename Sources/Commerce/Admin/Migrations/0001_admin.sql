-- AdminService (admin.proto): the audit log of administrative changes and the records of
-- long-running operations. Everything else an admin sees belongs to the owning services.

-- One row per administrative change, written in the transaction that records its outcome.
CREATE TABLE audit_events (
  id uuid PRIMARY KEY,
  -- Insertion order: the list's keyset position (newest first is seq descending).
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  actor_user_id text NOT NULL,
  -- The AdminService method, for example 'SuspendUser'.
  action text NOT NULL,
  -- The target's full message name, for example 'emporium.commerce.v1.User'.
  target_kind text NOT NULL,
  target_id text NOT NULL,
  reason text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 1000),
  -- A JSON object of strings (AuditEvent.attributes).
  attributes jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL
);

-- ListAuditEvents: newest first, all of it, by actor or by target.
CREATE INDEX audit_events_by_actor ON audit_events (actor_user_id, seq DESC);
CREATE INDEX audit_events_by_target ON audit_events (target_id, seq DESC);

-- Long-running operations. The work itself runs in the owning service (a reindex is
-- CatalogService's search reindex job of the same id); the state is read from it.
CREATE TABLE operations (
  id uuid PRIMARY KEY,
  -- 'reindex_catalog' (OPERATION_KIND_REINDEX_CATALOG).
  kind text NOT NULL CHECK (kind IN ('reindex_catalog')),
  requested_by text NOT NULL,
  created_at timestamptz NOT NULL
);
