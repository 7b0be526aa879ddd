/// pgbench scripts that write Emporium's own tables: the ceiling of its data model, with no
/// RPC, no service code and no driver of ours in the way (docs/PERFORMANCE.md, "What
/// Emporium's own SQL can do").
///
/// They are written by hand from what the services write, and kept honest by a count: per
/// confirmed checkout, the saga's script inserts, updates and deletes as many rows in each
/// table as a real checkout does (`pg_stat_user_tables` over both phases; the relays' work,
/// which a real checkout sets off, is left out). A schema change that breaks them makes their
/// phase fail with pgbench's error, not quietly measure something else.
///
/// Each transaction is one pipeline (`\startpipeline`): one round trip, as the stores send a
/// change's statements together. A colon in a literal is written `chr(58)`: pgbench reads
/// `:name` anywhere as a variable. Events go to topics no relay takes (`pgbench.…`), emptied
/// from the relay queues after each phase, and wake nobody (channel `pgbench_outbox`).
enum EmporiumSQL {
  /// A confirmed checkout of one unit of the n-th spread product, as its saga's transactions:
  /// the order PENDING; the reservation (lock, the stock, reservation, allocation and ledger
  /// writes, its key recorded finished with the outcome, the event); the order
  /// AWAITING_PAYMENT; the payment PENDING with its ledger entry; the payment AUTHORIZED with
  /// its ledger entry and outcome; the reservation committed; the order CONFIRMED. Before them, pricing's read of
  /// the product and the order's idempotency lookup.
  static func saga(products: Int) -> String {
    #"""
    \set r random(1, \#(products))
    SELECT product_id AS pid, warehouse_id AS wid, gen_random_uuid() AS oid, gen_random_uuid() AS rid, gen_random_uuid() AS payid, 'customer-' || (:r::int % 64) AS cid FROM pgbench_money.spread_rows WHERE n = :r::int \gset
    \startpipeline
    SELECT id, seller_id, title, details, price_minor, currency, image_urls, attribute_names, attribute_values, status, version FROM catalog.products WHERE id = :pid::uuid;
    SELECT id FROM orders.orders WHERE customer_id = :cid::text AND checkout_key = 'pgbench-' || :oid::text;
    \endpipeline
    \startpipeline
    BEGIN;
    INSERT INTO orders.orders (id, customer_id, checkout_key, request_hash, status, version, currency, subtotal_minor, shipping_minor, tax_minor, total_minor, shipping_speed, shipping_address, billing_address, payment_method, created_at, updated_at, saga_state, saga_owner, saga_lease_until, saga_deadline, from_cart) VALUES (:oid::uuid, :cid::text, 'pgbench-' || :oid::text, decode(md5(:oid::text), 'hex'), 'PENDING', 1, 'USD', 1999, 599, 160, 2758, 1, decode(repeat('0a0b', 58), 'hex'), decode(repeat('0a0b', 58), 'hex'), '\x0a0b'::bytea, now(), now(), 'running', gen_random_uuid(), now() + interval '60 seconds', now() + interval '30 seconds', false);
    INSERT INTO orders.order_lines (order_id, line_index, id, product_id, seller_id, title, image_url, unit_price_minor, quantity, line_total_minor, tax_minor) VALUES (:oid::uuid, 0, gen_random_uuid(), :pid::text, 'seller-of-the-product', 'A product title of a usual length', 'https://images.example/product.jpg', 1999, 1, 1999, 160);
    INSERT INTO orders.status_history (order_id, seq, status, changed_at, note) VALUES (:oid::uuid, 1, 'PENDING', now(), 'checkout started');
    INSERT INTO orders.saga_log (order_id, step, detail, created_at) VALUES (:oid::uuid, 'created', '', now());
    WITH e AS (INSERT INTO orders.outbox (topic, aggregate_id, payload, published_at) VALUES ('pgbench.order.status_changed', :oid::text, decode(repeat('0a0b', 98), 'hex'), now()), ('pgbench.order.event', :oid::text, decode(repeat('0a0b', 60), 'hex'), NULL) RETURNING id, topic, published_at) INSERT INTO orders.outbox_pending (id, topic) SELECT id, topic FROM e WHERE published_at IS NULL;
    SELECT pg_notify('pgbench_outbox', '');
    COMMIT;
    \endpipeline
    \startpipeline
    BEGIN;
    SELECT on_hand, reserved FROM inventory.stock WHERE product_id = :pid::text AND warehouse_id = :wid::uuid FOR UPDATE;
    WITH stock AS (UPDATE inventory.stock SET reserved = reserved + 1, version = version + 1, updated_at = now() WHERE product_id = :pid::text AND warehouse_id = :wid::uuid RETURNING on_hand, reserved), r AS (INSERT INTO inventory.reservations (id, order_id, status, created_at, expires_at) VALUES (:rid::uuid, :oid::text, 'ACTIVE', now(), now() + interval '15 minutes') RETURNING 1), a AS (INSERT INTO inventory.reservation_allocations (reservation_id, line_index, product_id, warehouse_id, quantity) VALUES (:rid::uuid, 0, :pid::text, :wid::uuid, 1) RETURNING 1), l AS (INSERT INTO inventory.stock_ledger (product_id, warehouse_id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reservation_id, actor, created_at) SELECT :pid::text, :wid::uuid, 'RESERVE', 0, 1, s.on_hand, s.reserved, :rid::uuid, ('service' || chr(58) || 'orders'), now() FROM stock s RETURNING 1) SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM a), (SELECT count(*) FROM l);
    INSERT INTO inventory.idempotency_keys (scope, method, key, request_hash, state, lease_expires_at, status_code, response, finished_at) VALUES (('service' || chr(58) || 'orders'), '/emporium.commerce.v1.InventoryService/ReserveStock', 'pgbench-' || :oid::text, decode(md5(:oid::text), 'hex'), 'done', now(), 0, decode(repeat('0a0b', 94), 'hex'), now());
    WITH e AS (INSERT INTO inventory.outbox (topic, aggregate_id, payload) VALUES ('pgbench.stock.changed', :pid::text, decode(repeat('0a', 21), 'hex')) RETURNING id, topic) INSERT INTO inventory.outbox_pending (id, topic) SELECT id, topic FROM e;
    SELECT pg_notify('pgbench_outbox', '');
    COMMIT;
    \endpipeline
    \#(orderChange(to: "AWAITING_PAYMENT", version: 2, setting: "reservation_id = :rid::text, reservation_expires_at = now() + interval '15 minutes', saga_lease_until = now() + interval '60 seconds'", note: "stock reserved", step: "reserved", detail: ":rid::text"))
    \startpipeline
    BEGIN;
    INSERT INTO payments.idempotency_keys (scope, method, key, request_hash, state, lease_expires_at) VALUES (('service' || chr(58) || 'orders'), '/emporium.commerce.v1.PaymentService/AuthorizePayment', 'pgbench-' || :oid::text, decode(md5(:oid::text), 'hex'), 'running', now() + interval '1 minute') ON CONFLICT DO NOTHING;
    INSERT INTO payments.payments (id, order_id, customer_id, request_scope, request_key, currency, amount_minor, status, capture_immediately, card_brand, card_last_four, card_exp_month, card_exp_year, provider_id, version, created_at, updated_at) VALUES (:payid::uuid, :oid::text, :cid::text, ('service' || chr(58) || 'orders'), 'pgbench-' || :oid::text, 'USD', 2758, 'PENDING', false, 'VISA', '4242', 12, 2040, 'sandbox', 1, now(), now());
    INSERT INTO payments.payment_events (payment_id, kind, provider_key, provider_id, amount_minor, currency, status_after, actor, created_at) VALUES (:payid::uuid, 'AUTHORIZE_REQUESTED', 'AuthorizePayment' || chr(58) || :oid::text || chr(58) || 'authorize', 'sandbox', 2758, 'USD', 'PENDING', ('service' || chr(58) || 'orders'), now());
    INSERT INTO payments.outbox (topic, aggregate_id, payload, published_at) VALUES ('pgbench.payment.pending', :payid::text, decode(repeat('0a0b', 59), 'hex'), now());
    COMMIT;
    \endpipeline
    \startpipeline
    BEGIN;
    SELECT status, version FROM payments.payments WHERE id = :payid::uuid FOR UPDATE;
    UPDATE payments.payments SET status = 'AUTHORIZED', provider_payment_id = 'pi_' || :payid::text, authorization_expires_at = now() + interval '7 days', version = 2, updated_at = now() WHERE id = :payid::uuid;
    INSERT INTO payments.payment_events (payment_id, kind, provider_key, provider_id, outcome, amount_minor, currency, status_before, status_after, actor, created_at) VALUES (:payid::uuid, 'AUTHORIZE_RESULT', 'AuthorizePayment' || chr(58) || :oid::text || chr(58) || 'authorize', 'sandbox', 'AUTHORIZED', 2758, 'USD', 'PENDING', 'AUTHORIZED', ('service' || chr(58) || 'orders'), now());
    WITH e AS (INSERT INTO payments.outbox (topic, aggregate_id, payload, published_at) VALUES ('pgbench.payment.authorized', :payid::text, decode(repeat('0a0b', 59), 'hex'), now()), ('pgbench.payment.event', :payid::text, decode(repeat('0a0b', 72), 'hex'), NULL) RETURNING id, topic, published_at) INSERT INTO payments.outbox_pending (id, topic) SELECT id, topic FROM e WHERE published_at IS NULL;
    UPDATE payments.idempotency_keys SET state = 'done', status_code = 0, response = decode(repeat('0a0b', 126), 'hex'), finished_at = now() WHERE scope = ('service' || chr(58) || 'orders') AND method = '/emporium.commerce.v1.PaymentService/AuthorizePayment' AND key = 'pgbench-' || :oid::text;
    SELECT pg_notify('pgbench_outbox', '');
    COMMIT;
    \endpipeline
    \startpipeline
    BEGIN;
    SELECT status, expires_at FROM inventory.reservations WHERE id = :rid::uuid FOR UPDATE;
    SELECT line_index, product_id, warehouse_id, quantity FROM inventory.reservation_allocations WHERE reservation_id = :rid::uuid ORDER BY line_index;
    SELECT on_hand, reserved FROM inventory.stock WHERE product_id = :pid::text AND warehouse_id = :wid::uuid FOR UPDATE;
    WITH stock AS (UPDATE inventory.stock SET on_hand = on_hand - 1, reserved = reserved - 1, version = version + 1, updated_at = now() WHERE product_id = :pid::text AND warehouse_id = :wid::uuid RETURNING on_hand, reserved) INSERT INTO inventory.stock_ledger (product_id, warehouse_id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reservation_id, actor, created_at) SELECT :pid::text, :wid::uuid, 'COMMIT', -1, -1, on_hand, reserved, :rid::uuid, ('service' || chr(58) || 'orders'), now() FROM stock;
    UPDATE inventory.reservations SET status = 'COMMITTED', finished_at = now() WHERE id = :rid::uuid AND status = 'ACTIVE';
    WITH e AS (INSERT INTO inventory.outbox (topic, aggregate_id, payload) VALUES ('pgbench.stock.changed', :pid::text, decode(repeat('0a', 21), 'hex')) RETURNING id, topic) INSERT INTO inventory.outbox_pending (id, topic) SELECT id, topic FROM e;
    SELECT pg_notify('pgbench_outbox', '');
    COMMIT;
    \endpipeline
    \#(orderChange(to: "CONFIRMED", version: 3, setting: "payment_id = :payid::text, payment_status = 2, reservation_committed = true, confirmed_at = now(), saga_state = 'done', saga_owner = NULL, saga_lease_until = NULL", note: "payment authorized", step: "confirmed", detail: "''"))

    """#
  }

  /// One change of the order's state, as `OrderStore.change` makes it: the order locked, its
  /// lines and history read, the order updated, a history row, a saga-log row, the status event
  /// (written published: no relay takes it) and the event the relays send, in one transaction.
  static func orderChange(to status: String, version: Int, setting: String, note: String, step: String, detail: String) -> String {
    #"""
    \startpipeline
    BEGIN;
    SELECT status, version FROM orders.orders WHERE id = :oid::uuid FOR UPDATE;
    SELECT line_index, product_id, quantity FROM orders.order_lines WHERE order_id = :oid::uuid;
    SELECT status, changed_at, note FROM orders.status_history WHERE order_id = :oid::uuid ORDER BY order_id, seq;
    UPDATE orders.orders SET status = '\#(status)', version = \#(version), updated_at = now(), \#(setting) WHERE id = :oid::uuid;
    INSERT INTO orders.status_history (order_id, seq, status, changed_at, note) VALUES (:oid::uuid, \#(version), '\#(status)', now(), '\#(note)');
    INSERT INTO orders.saga_log (order_id, step, detail, created_at) VALUES (:oid::uuid, '\#(step)', \#(detail), now());
    WITH e AS (INSERT INTO orders.outbox (topic, aggregate_id, payload, published_at) VALUES ('pgbench.order.status_changed', :oid::text, decode(repeat('0a0b', 98), 'hex'), now()), ('pgbench.order.event', :oid::text, decode(repeat('0a0b', 60), 'hex'), NULL) RETURNING id, topic, published_at) INSERT INTO orders.outbox_pending (id, topic) SELECT id, topic FROM e WHERE published_at IS NULL;
    SELECT pg_notify('pgbench_outbox', '');
    COMMIT;
    \endpipeline
    """#
  }

  /// One batch of `:n` reservations of one unit of the hot product, as the coalescer writes
  /// it: the stock row locked, the stock, reservation, allocation and ledger rows written, every
  /// call's key recorded finished with its outcome, the batch's event queued.
  /// Variables: `n`, `product`, `warehouse`.
  static let batch = #"""
    SELECT gen_random_uuid()::text AS base \gset
    \startpipeline
    BEGIN;
    SELECT on_hand, reserved FROM inventory.stock WHERE product_id = :product::text AND warehouse_id = :warehouse::uuid FOR UPDATE;
    WITH stock AS (UPDATE inventory.stock SET reserved = reserved + :n::int, version = version + 1, updated_at = now() WHERE product_id = :product::text AND warehouse_id = :warehouse::uuid RETURNING on_hand, reserved), r AS (INSERT INTO inventory.reservations (id, order_id, status, created_at, expires_at) SELECT md5(:base::text || g)::uuid, 'pgbench-' || :base::text || '-' || g, 'ACTIVE', now(), now() + interval '1 day' FROM generate_series(1, :n::int) AS g RETURNING 1), a AS (INSERT INTO inventory.reservation_allocations (reservation_id, line_index, product_id, warehouse_id, quantity) SELECT md5(:base::text || g)::uuid, 0, :product::text, :warehouse::uuid, 1 FROM generate_series(1, :n::int) AS g RETURNING 1), l AS (INSERT INTO inventory.stock_ledger (product_id, warehouse_id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reservation_id, actor, created_at) SELECT :product::text, :warehouse::uuid, 'RESERVE', 0, 1, s.on_hand, s.reserved - :n::int + g, md5(:base::text || g)::uuid, ('service' || chr(58) || 'orders'), now() FROM stock AS s, generate_series(1, :n::int) AS g ORDER BY g RETURNING 1) SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM a), (SELECT count(*) FROM l);
    INSERT INTO inventory.idempotency_keys (scope, method, key, request_hash, state, lease_expires_at, status_code, response, finished_at) SELECT ('service' || chr(58) || 'orders'), '/emporium.commerce.v1.InventoryService/ReserveStock', 'pgbench-' || :base::text || '-' || g, decode(md5(:base::text || g), 'hex'), 'done', now(), 0, decode(repeat('0a0b', 94), 'hex'), now() FROM generate_series(1, :n::int) AS g;
    WITH e AS (INSERT INTO inventory.outbox (topic, aggregate_id, payload) VALUES ('pgbench.stock.changed', :product::text, decode(repeat('0a', 21), 'hex')) RETURNING id, topic) INSERT INTO inventory.outbox_pending (id, topic) SELECT id, topic FROM e;
    SELECT pg_notify('pgbench_outbox', '');
    COMMIT;
    \endpipeline

    """#

  /// The least a reservation can leave: one batch of `:n` reservation rows and the stock
  /// row's update, in copies of Emporium's tables; no allocation, ledger, idempotency record or
  /// event. Variables: `n`, `product`, `warehouse`.
  static let batchReservationsOnly = #"""
    SELECT gen_random_uuid()::text AS base \gset
    \startpipeline
    BEGIN;
    WITH stock AS (UPDATE pgbench_money.hot_stock SET reserved = reserved + :n::int, version = version + 1, updated_at = now() WHERE product_id = :product::text AND warehouse_id = :warehouse::uuid RETURNING 1), r AS (INSERT INTO pgbench_money.hot_reservations (id, order_id, status, created_at, expires_at) SELECT md5(:base::text || g)::uuid, 'pgbench-' || :base::text || '-' || g, 'ACTIVE', now(), now() + interval '1 day' FROM generate_series(1, :n::int) AS g RETURNING 1) SELECT (SELECT count(*) FROM stock), (SELECT count(*) FROM r);
    COMMIT;
    \endpipeline

    """#
}
