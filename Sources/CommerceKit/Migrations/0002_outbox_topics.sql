-- Relays that forward only some topics (PaymentService's relay of order events, for example)
-- read the unpublished events of those topics. With only outbox_unpublished (id), each read
-- walked every unpublished event of the other topics first, and those accumulate until their
-- own relay exists: the read grew with the outbox. This index serves the topic's rows alone.
CREATE INDEX outbox_unpublished_topic ON outbox (topic, id) WHERE published_at IS NULL;
