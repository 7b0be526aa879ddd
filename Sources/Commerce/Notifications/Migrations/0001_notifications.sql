-- Schema `notifications`: each user's notifications with their per-recipient sequence, the
-- sequence counter per recipient, and the source events already accepted (deduplication).
-- Recipient ids come from AuthService and source event ids from other services' outboxes; both
-- are kept as the opaque text they travel as.

-- One row per recipient: the last sequence number given out. PublishEvents takes the next
-- numbers with one UPDATE ... RETURNING, whose row lock also makes a recipient's notifications
-- commit in sequence order.
CREATE TABLE recipients (
  recipient_id text PRIMARY KEY CHECK (char_length(recipient_id) BETWEEN 1 AND 128),
  last_sequence int8 NOT NULL CHECK (last_sequence >= 0)
);

CREATE TABLE notifications (
  id uuid PRIMARY KEY,
  recipient_id text NOT NULL REFERENCES recipients (recipient_id),
  sequence int8 NOT NULL CHECK (sequence >= 1),
  kind int4 NOT NULL CHECK (kind BETWEEN 1 AND 5),
  title text NOT NULL,
  body text NOT NULL,
  source_service text NOT NULL,
  source_event_id text NOT NULL,
  occur_time timestamptz NOT NULL,
  create_time timestamptz NOT NULL,
  read_time timestamptz,
  -- The NotificationPayload message, serialized.
  payload bytea NOT NULL,
  UNIQUE (recipient_id, sequence)
);
-- Unread counts and "unread only" lists.
CREATE INDEX notifications_unread ON notifications (recipient_id, sequence) WHERE read_time IS NULL;
-- The retention sweep (90 days).
CREATE INDEX notifications_create_time ON notifications (create_time);

-- Every source event accepted, by (source service, source_event_id): an event is accepted at
-- most once even after its notification was trimmed by retention. Kept longer than the
-- notifications (see NotificationService's retention sweep).
CREATE TABLE accepted_events (
  source_service text NOT NULL,
  source_event_id text NOT NULL CHECK (char_length(source_event_id) BETWEEN 1 AND 200),
  accepted_at timestamptz NOT NULL,
  PRIMARY KEY (source_service, source_event_id)
);
CREATE INDEX accepted_events_accepted_at ON accepted_events (accepted_at);
