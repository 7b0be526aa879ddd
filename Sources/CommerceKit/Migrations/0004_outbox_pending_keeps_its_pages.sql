-- A vacuum of the relays' queue leaves its empty pages in the file instead of cutting them off.
--
-- Once the relays have published what was queued, the queue's last pages are empty, and VACUUM
-- then tries to truncate them. That needs an ACCESS EXCLUSIVE lock on the queue, which it cannot
-- take while any transaction is appending events (each holds ROW EXCLUSIVE on it), so it retried
-- every 50 ms for up to 5 s: in a checkout benchmark the queue's vacuums took 0.45 s each, nearly
-- all of it spent waiting, and whenever one got the lock, every transaction appending events to
-- the schema waited behind it. The queue refills at once, so the pages would only be added back.
ALTER TABLE outbox_pending SET (vacuum_truncate = false);
