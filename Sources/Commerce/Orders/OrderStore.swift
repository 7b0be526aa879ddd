import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `orders`. Each method is one transaction (or one statement), named for
/// what it does; values always travel as parameters.
///
/// Every change of an order runs in ``change(_:step:detail:owner:lease:_:)``: the order row is
/// locked, changed, its version bumped, its new history entries, the saga log entry and an
/// outbox event written, and `NOTIFY orders_order_changed` (payload: the order id) sent — all
/// in one transaction, so a watcher woken by the notification reads the committed change.
struct OrderStore: Sendable {
  let pool: PostgresPool
  /// The order's own events (`order.status_changed`, `order.changed`) have no relay: they are
  /// the record of every change, written published.
  let outbox = Outbox(schema: "orders", recordedTopics: [statusChangedTopic, changedTopic])

  /// The channel WatchOrder listens on; the payload is the changed order's id.
  static let changeChannel = "orders_order_changed"
  /// Outbox topics.
  static let statusChangedTopic = "order.status_changed"
  static let changedTopic = "order.changed"
  /// A RecordPurchasesRequest for the catalog, written when an order reaches CONFIRMED
  /// (``PurchaseRelay``).
  static let purchasedTopic = "order.purchased"

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "an orders row holds a value the code does not know")
    var description: String
  }

  // MARK: Orders

  private static let columns = [
    "id", "customer_id", "checkout_key", "request_hash", "status", "version", "currency", "subtotal_minor", "shipping_minor",
    "tax_minor", "total_minor", "refunded_minor", "shipping_speed", "shipping_address", "billing_address", "payment_id",
    "payment_status", "payment_method", "payment_captured", "reservation_id", "reservation_expires_at", "reservation_committed",
    "shipment_ids", "shipped_shipment_ids", "delivered_shipment_ids", "return_ids", "open_return_ids", "failure_code",
    "failure_reason", "failure_message", "failure_details", "decline_reason", "short_product_ids", "cancel_reason", "cancel_text",
    "cancelled_by", "cancelled_at", "created_at", "updated_at", "delivered_at", "return_window_closes_at", "saga_state",
    "saga_owner", "saga_lease_until", "saga_deadline", "from_cart",
  ]
  private static let columnList = columns.joined(separator: ", ")
  private static let prefixedColumnList = columns.map { "o." + $0 }.joined(separator: ", ")

  private static func values(_ o: OrderRecord) throws -> [any PostgresEncodable] {
    [
      o.id, o.customerID, o.checkoutKey, o.requestHash, o.status.storedName, o.version, o.currency, o.subtotal, o.shipping,
      o.tax, o.total, o.refunded, o.shippingSpeed.rawValue, try o.shippingAddress.serializedBytes(),
      try o.billingAddress.serializedBytes(), o.paymentID, o.paymentStatus.rawValue, try o.paymentMethod?.serializedBytes(),
      o.paymentCaptured, o.reservationID, o.reservationExpiresAt, o.reservationCommitted, o.shipmentIDs, o.shippedShipmentIDs,
      o.deliveredShipmentIDs, o.returnIDs, o.openReturnIDs, o.failure?.code, o.failure?.reason, o.failure?.message,
      o.failure?.details, o.failure?.declineReason ?? 0, o.failure?.shortProductIDs ?? [], o.cancelReason?.rawValue,
      o.cancelText, o.cancelledBy, o.cancelledAt, o.createdAt, o.updatedAt, o.deliveredAt, o.returnWindowClosesAt,
      o.sagaState.rawValue, o.sagaOwner, o.sagaLeaseUntil, o.sagaDeadline, o.fromCart,
    ]
  }

  private static func order(_ row: PostgresRow, lines: [OrderLineRecord], history: [HistoryEntry]) throws -> OrderRecord {
    guard let status = CommerceV1.OrderStatus(storedName: try row.decode(4, as: String.self)),
      let saga = SagaState(rawValue: try row.decode(41, as: String.self))
    else { throw StoreError.corruptRow }
    var failure: OrderFailureRecord?
    if let code = try row.decode(27, as: Int32?.self) {
      failure = OrderFailureRecord(
        code: code, reason: try row.decode(28, as: String?.self) ?? "", message: try row.decode(29, as: String?.self) ?? "",
        details: try row.decode(30, as: [UInt8]?.self), declineReason: try row.decode(31, as: Int32.self),
        shortProductIDs: try row.decode(32, as: [String].self))
    }
    return OrderRecord(
      id: try row.decode(0, as: UUID.self), customerID: try row.decode(1, as: String.self),
      checkoutKey: try row.decode(2, as: String.self), requestHash: try row.decode(3, as: [UInt8].self), status: status,
      version: try row.decode(5, as: Int64.self), currency: try row.decode(6, as: String.self),
      subtotal: try row.decode(7, as: Int64.self), shipping: try row.decode(8, as: Int64.self), tax: try row.decode(9, as: Int64.self),
      total: try row.decode(10, as: Int64.self), refunded: try row.decode(11, as: Int64.self),
      shippingSpeed: CommerceV1.ShippingSpeed(rawValue: try row.decode(12, as: Int32.self)),
      shippingAddress: try CommerceV1.Address(serializedBytes: try row.decode(13, as: [UInt8].self)),
      billingAddress: try CommerceV1.Address(serializedBytes: try row.decode(14, as: [UInt8].self)),
      paymentID: try row.decode(15, as: String?.self),
      paymentStatus: CommerceV1.PaymentStatus(rawValue: try row.decode(16, as: Int32.self)),
      paymentMethod: try row.decode(17, as: [UInt8]?.self).map { try CommerceV1.PaymentMethodSummary(serializedBytes: $0) },
      paymentCaptured: try row.decode(18, as: Bool.self), reservationID: try row.decode(19, as: String?.self),
      reservationExpiresAt: try row.decode(20, as: Date?.self), reservationCommitted: try row.decode(21, as: Bool.self),
      shipmentIDs: try row.decode(22, as: [String].self), shippedShipmentIDs: try row.decode(23, as: [String].self),
      deliveredShipmentIDs: try row.decode(24, as: [String].self), returnIDs: try row.decode(25, as: [String].self),
      openReturnIDs: try row.decode(26, as: [String].self), failure: failure,
      cancelReason: try row.decode(33, as: Int32?.self).map { CommerceV1.CancelReason(rawValue: $0) },
      cancelText: try row.decode(34, as: String?.self), cancelledBy: try row.decode(35, as: String?.self),
      cancelledAt: try row.decode(36, as: Date?.self), createdAt: try row.decode(37, as: Date.self),
      updatedAt: try row.decode(38, as: Date.self), deliveredAt: try row.decode(39, as: Date?.self),
      returnWindowClosesAt: try row.decode(40, as: Date?.self), sagaState: saga, sagaOwner: try row.decode(42, as: UUID?.self),
      sagaLeaseUntil: try row.decode(43, as: Date?.self), sagaDeadline: try row.decode(44, as: Date.self),
      fromCart: try row.decode(45, as: Bool.self), lines: lines,
      history: history)
  }

  private static let lineColumns =
    "order_id, line_index, id, product_id, seller_id, title, image_url, unit_price_minor, quantity, tax_minor, packed_quantity, shipped_quantity, refunded_quantity"

  private static func line(_ row: PostgresRow) throws -> (UUID, OrderLineRecord) {
    (
      try row.decode(0, as: UUID.self),
      OrderLineRecord(
        index: try row.decode(1, as: Int32.self), id: try row.decode(2, as: UUID.self), productID: try row.decode(3, as: String.self),
        sellerID: try row.decode(4, as: String.self), title: try row.decode(5, as: String.self),
        imageURL: try row.decode(6, as: String.self), unitPrice: try row.decode(7, as: Int64.self),
        quantity: try row.decode(8, as: Int32.self), tax: try row.decode(9, as: Int64.self),
        packedQuantity: try row.decode(10, as: Int32.self), shippedQuantity: try row.decode(11, as: Int32.self),
        refundedQuantity: try row.decode(12, as: Int32.self))
    )
  }

  /// The orders of `rows` with their lines and history, read in `tx`, or else from `source`
  /// (the primary pool unless a list reads the replica).
  private func load(_ rows: PostgresRows, in tx: PostgresTransaction?, from source: PostgresPool? = nil) async throws
    -> [OrderRecord]
  {
    let ids = try rows.map { try $0.decode(0, as: UUID.self) }
    guard !ids.isEmpty else { return [] }
    let match = PostgresKeyMatch("order_id", parameter: 1, ids)
    let lineSQL = "SELECT \(Self.lineColumns) FROM orders.order_lines WHERE \(match.condition) ORDER BY order_id, line_index"
    let historySQL = "SELECT order_id, status, changed_at, note FROM orders.status_history WHERE \(match.condition) ORDER BY order_id, seq"
    let lineRows: PostgresRows
    let historyRows: PostgresRows
    // Both reads at once: pipelined, one round trip.
    if let tx {
      async let lineRead = tx.query(lineSQL, [match.value])
      async let historyRead = tx.query(historySQL, [match.value])
      (lineRows, historyRows) = try await (lineRead, historyRead)
    } else {
      let source = source ?? pool
      async let lineRead = source.query(lineSQL, [match.value])
      async let historyRead = source.query(historySQL, [match.value])
      (lineRows, historyRows) = try await (lineRead, historyRead)
    }
    var lines: [UUID: [OrderLineRecord]] = [:]
    for row in lineRows {
      let (id, line) = try Self.line(row)
      lines[id, default: []].append(line)
    }
    var history: [UUID: [HistoryEntry]] = [:]
    for row in historyRows {
      guard let status = CommerceV1.OrderStatus(storedName: try row.decode(1, as: String.self)) else { throw StoreError.corruptRow }
      history[try row.decode(0, as: UUID.self), default: []].append(
        HistoryEntry(status: status, at: try row.decode(2, as: Date.self), note: try row.decode(3, as: String.self)))
    }
    return try zip(rows, ids).map { row, id in try Self.order(row, lines: lines[id] ?? [], history: history[id] ?? []) }
  }

  /// An order, without locks.
  func order(_ id: UUID) async throws -> OrderRecord? {
    let rows = try await pool.query("SELECT \(Self.columnList) FROM orders.orders WHERE id = $1", [id])
    return try await load(rows, in: nil).first
  }

  /// The order a customer's checkout key created, if any.
  func order(customerID: String, checkoutKey: String) async throws -> OrderRecord? {
    let rows = try await pool.query(
      "SELECT \(Self.columnList) FROM orders.orders WHERE customer_id = $1 AND checkout_key = $2", [customerID, checkoutKey])
    return try await load(rows, in: nil).first
  }

  /// Stores a new order (PENDING) with its lines, its first history entry, the saga log's first
  /// step and an outbox event. Returns false, storing nothing, when the customer's checkout key
  /// already has an order. Two round trips: the order's insert (with BEGIN), then the rest with
  /// COMMIT.
  func insertOrder(_ order: OrderRecord) async throws -> Bool {
    try await pool.withTransaction { tx in
      let placeholders = (1...Self.columns.count).map { "$\($0)" }.joined(separator: ", ")
      let inserted = try await tx.query(
        "INSERT INTO orders.orders (\(Self.columnList)) VALUES (\(placeholders)) ON CONFLICT (customer_id, checkout_key) DO NOTHING",
        try Self.values(order))
      guard inserted.affectedRows == 1 else { return false }
      let lines = order.lines
      var writes = [
        try PostgresTransaction.Statement(
          """
          INSERT INTO orders.order_lines (order_id, line_index, id, product_id, seller_id, title, image_url, unit_price_minor, quantity,
            line_total_minor, tax_minor)
          SELECT $1, i, id, p, s, t, u, price, q, price * q, tax
          FROM unnest($2::int4[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::int4[], $10::int8[])
            AS l (i, id, p, s, t, u, price, q, tax)
          """,
          [
            order.id, lines.map(\.index), lines.map(\.id), lines.map(\.productID), lines.map(\.sellerID), lines.map(\.title),
            lines.map(\.imageURL), lines.map(\.unitPrice), lines.map(\.quantity), lines.map(\.tax),
          ])
      ]
      if let entries = try Self.historyWrite(order.id, entries: order.history[...], from: 0) { writes.append(entries) }
      writes.append(try Self.logWrite(order.id, step: "created", detail: "order created PENDING, total \(order.total) \(order.currency)", at: order.createdAt))
      if let events = try announcement(of: order, previous: nil, at: order.createdAt) { writes.append(events) }
      try await tx.queryAndCommit(writes)
      return true
    }
  }

  /// Changes one order in one transaction: locks it, runs `body` on it (which may also use the
  /// transaction, for example to record an applied event), and when the order changed, writes it
  /// with the next version, its new history entries, the saga log entry (`step`, `detail`) and
  /// outbox events. The saga columns (state, owner, lease) are written as `body` leaves them but
  /// do not count as a change. Throws NOT_FOUND for an unknown order; an error `body` throws rolls
  /// everything back.
  ///
  /// Three round trips besides `body`'s own: the lock (with BEGIN), the lines and history read
  /// together once the lock is held, and every write with COMMIT.
  func change(
    _ id: UUID, step: String? = nil, detail: String = "", now: Date,
    _ body: @Sendable (inout OrderRecord, PostgresTransaction) async throws -> Void
  ) async throws -> OrderRecord {
    try await pool.withTransaction { tx in
      let rows = try await tx.query("SELECT \(Self.columnList) FROM orders.orders WHERE id = $1 FOR UPDATE", [id])
      guard let before = try await load(rows, in: tx).first else { throw CommerceError.notFound("order", id.lowercasedString) }
      var after = before
      try await body(&after, tx)
      let changed = before.visible != after.visible
      if changed {
        after.version = before.version + 1
        after.updatedAt = max(now, before.updatedAt)
      }
      var writes: [PostgresTransaction.Statement] = []
      let newHistory = after.history[before.history.count...]
      if changed || before != after {
        var assignments = Self.columns.enumerated().dropFirst().map { "\($0.element) = $\($0.offset + 1)" }
        var values = try Self.values(after)
        if let confirmed = newHistory.first(where: { $0.status == .confirmed }) {
          // The first confirmation only (GetOrderStats' "confirmed in the window").
          values.append(confirmed.at)
          assignments.append("confirmed_at = coalesce(confirmed_at, $\(values.count))")
        }
        writes.append(try PostgresTransaction.Statement("UPDATE orders.orders SET \(assignments.joined(separator: ", ")) WHERE id = $1", values))
      }
      if changed {
        if before.lines != after.lines {
          let lines = after.lines
          writes.append(
            try PostgresTransaction.Statement(
              """
              UPDATE orders.order_lines AS l SET packed_quantity = u.packed, shipped_quantity = u.shipped, refunded_quantity = u.refunded
              FROM unnest($2::int4[], $3::int4[], $4::int4[], $5::int4[]) AS u (i, packed, shipped, refunded)
              WHERE l.order_id = $1 AND l.line_index = u.i
              """,
              [id, lines.map(\.index), lines.map(\.packedQuantity), lines.map(\.shippedQuantity), lines.map(\.refundedQuantity)],
              planning: .perCall))
        }
        if let entries = try Self.historyWrite(id, entries: newHistory, from: before.history.count) { writes.append(entries) }
        if let events = try announcement(of: after, previous: before.status, at: now) { writes.append(events) }
      }
      if let step { writes.append(try Self.logWrite(id, step: step, detail: detail, at: now)) }
      try await tx.queryAndCommit(writes)
      return after
    }
  }

  /// Appends a step to an order's saga log without touching the order (one statement).
  func log(_ id: UUID, step: String, detail: String = "", at: Date) async throws {
    try await pool.query(Self.logSQL, [id, step, detail, at])
  }

  /// The statement that appends history entries (nil when there are none). A change that
  /// confirms the order also sets its `confirmed_at`, in the order's update; a new order is never
  /// CONFIRMED.
  private static func historyWrite(_ id: UUID, entries: ArraySlice<HistoryEntry>, from start: Int) throws -> PostgresTransaction.Statement? {
    guard !entries.isEmpty else { return nil }
    let list = Array(entries)
    return try PostgresTransaction.Statement(
      """
      INSERT INTO orders.status_history (order_id, seq, status, changed_at, note)
      SELECT $1, s, st, at, n FROM unnest($2::int4[], $3::text[], $4::timestamptz[], $5::text[]) AS h (s, st, at, n)
      """,
      [id, list.indices.map { Int32(start + $0) }, list.map(\.status.storedName), list.map(\.at), list.map(\.note)])
  }

  private static func logWrite(_ id: UUID, step: String, detail: String, at: Date) throws -> PostgresTransaction.Statement {
    try PostgresTransaction.Statement(logSQL, [id, step, detail, at])
  }

  private static let logSQL = "INSERT INTO orders.saga_log (order_id, step, detail, created_at) VALUES ($1, $2, $3, $4)"

  /// The outbox events of a change, in one statement that also wakes the order's watchers: the
  /// order as an ADMIN sees it (`order.status_changed` or `order.changed`); on a status change,
  /// the customer's notification (ORDER_STATUS_CHANGED, which NotificationRelay delivers to
  /// NotificationService); on confirmation, the purchase the catalog learns of (RecordPurchases).
  /// `previous` is nil for a new order.
  private func announcement(of order: OrderRecord, previous: CommerceV1.OrderStatus?, at now: Date) throws
    -> PostgresTransaction.Statement?
  {
    let statusChanged = previous != order.status
    var events = [
      try Outbox.NewEvent(
        OrderMessages.order(order, view: .full), topic: statusChanged ? Self.statusChangedTopic : Self.changedTopic,
        aggregateID: order.id.lowercasedString)
    ]
    if let previous, statusChanged {
      let payload = CommerceV1.NotificationPayload.with {
        $0.event = .orderStatusChanged(.with {
          $0.orderId = order.id.lowercasedString
          $0.status = order.status
          $0.previousStatus = previous
          $0.orderVersion = order.version
        })
      }
      events.append(try outbox.notificationEvent(to: order.customerID, payload, occurredAt: now))
    }
    if order.status == .confirmed, previous == .pending || previous == .awaitingPayment {
      let request = CommerceV1.RecordPurchasesRequest.with {
        $0.orderId = order.id.lowercasedString
        $0.customerId = order.customerID
        $0.purchaseTime = .init(now)
        $0.products = order.lines.map { line in
          .with {
            $0.productId = line.productID
            $0.quantity = line.quantity
          }
        }
      }
      events.append(try Outbox.NewEvent(request, topic: Self.purchasedTopic, aggregateID: order.id.lowercasedString))
    }
    return try outbox.appending(events, notifying: [(Self.changeChannel, order.id.lowercasedString)])
  }

  /// Whether event `eventID` was already applied to the order; records it when not (in `tx`,
  /// which rolls the record back with the change if the event fails).
  func recordEvent(_ orderID: UUID, eventID: String, kind: Int32, now: Date, in tx: PostgresTransaction) async throws -> Bool {
    let inserted = try await tx.query(
      "INSERT INTO orders.applied_events (order_id, event_id, kind, applied_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
      [orderID, eventID, kind, now])
    return inserted.affectedRows == 0
  }

  /// Whether event `eventID` was applied to the order.
  func eventApplied(_ orderID: UUID, eventID: String) async throws -> Bool {
    try await !pool.query("SELECT 1 FROM orders.applied_events WHERE order_id = $1 AND event_id = $2", [orderID, eventID]).isEmpty
  }

  // MARK: Saga ownership

  /// Takes the saga of order `id` for `owner` until `leaseUntil`: a running one whose lease
  /// lapsed, or a waiting one — at any time with `anyWaiting` (a payment event, a
  /// cancellation), else once its next check is due (the recovery worker). Returns whether it
  /// did.
  func claimSaga(_ id: UUID, owner: UUID, leaseUntil: Date, now: Date, anyWaiting: Bool) async throws -> Bool {
    try await pool.query(
      """
      UPDATE orders.orders SET saga_state = 'running', saga_owner = $2, saga_lease_until = $3
      WHERE id = $1 AND saga_state <> 'done'
        AND ((saga_state = 'waiting' AND $5) OR saga_lease_until IS NULL OR saga_lease_until < $4)
      """, [id, owner, leaseUntil, now, anyWaiting]
    ).affectedRows == 1
  }

  /// Unfinished sagas due for the recovery worker: running ones whose lease lapsed, and waiting
  /// ones whose next payment check is due.
  func unownedSagas(now: Date, limit: Int) async throws -> [UUID] {
    try await pool.query(
      """
      SELECT id FROM orders.orders WHERE saga_state <> 'done' AND (saga_lease_until IS NULL OR saga_lease_until < $1)
      ORDER BY saga_lease_until NULLS FIRST LIMIT $2
      """, [now, Int64(limit)]
    ).map { try $0.decode(0, as: UUID.self) }
  }

  /// The saga log of an order, oldest first (step, detail).
  func sagaLog(_ id: UUID) async throws -> [(step: String, detail: String)] {
    try await pool.query("SELECT step, detail FROM orders.saga_log WHERE order_id = $1 ORDER BY seq", [id]).map {
      (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self))
    }
  }

  // MARK: Lists

  /// One page of orders, newest first, after the position (created_at, id).
  func page(
    customerID: String?, sellerID: String?, statuses: [String], minCreate: Date?, maxCreate: Date?,
    after: (Int64, UUID)?, limit: Int, on source: PostgresPool? = nil
  ) async throws -> [OrderRecord] {
    var conditions: [String] = []
    var parameters: [any PostgresEncodable] = []
    func parameter(_ value: any PostgresEncodable) -> String {
      parameters.append(value)
      return "$\(parameters.count)"
    }
    if let customerID { conditions.append("o.customer_id = \(parameter(customerID))") }
    if let sellerID {
      conditions.append("EXISTS (SELECT 1 FROM orders.order_lines l WHERE l.order_id = o.id AND l.seller_id = \(parameter(sellerID)))")
    }
    if !statuses.isEmpty { conditions.append("o.status = ANY(\(parameter(statuses)))") }
    if let minCreate { conditions.append("o.created_at >= \(parameter(minCreate))") }
    if let maxCreate { conditions.append("o.created_at < \(parameter(maxCreate))") }
    if let after {
      conditions.append(
        "(o.created_at, o.id) < ('epoch'::timestamptz + \(parameter(after.0)) * interval '1 microsecond', \(parameter(after.1)))")
    }
    let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let rows = try await (source ?? pool).query(
      "SELECT \(Self.prefixedColumnList) FROM orders.orders o \(filter) ORDER BY o.created_at DESC, o.id DESC LIMIT \(parameter(Int64(limit)))",
      parameters)
    return try await load(rows, in: nil, from: source ?? pool)
  }
}

extension OrderStore {
  /// A stored time in whole microseconds since 1970 (the schema's precision), for page tokens.
  static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
}

extension OrderRecord {
  /// The record without the saga's bookkeeping (state, owner, lease): what a change is.
  var visible: OrderRecord {
    var copy = self
    copy.sagaOwner = nil
    copy.sagaLeaseUntil = nil
    copy.sagaState = .done
    copy.reservationExpiresAt = nil
    return copy
  }
}

// MARK: Statistics (GetOrderStats)

extension OrderStore {
  /// Orders placed in a window, FAILED ones excluded, by current status.
  struct StatusCount { var status: String; var count: Int64 }
  /// Orders confirmed on one UTC day in one currency.
  struct DaySales { var day: String; var currency: String; var orders: Int64; var revenueMinor: Int64 }
  /// A product's units and revenue in orders confirmed in a window.
  struct ProductSales { var productID: String; var title: String; var currency: String; var units: Int64; var revenueMinor: Int64 }

  /// Orders first confirmed in [$1, $2) and not cancelled since (a cancelled order's money went
  /// back), from the `orders_confirmed` index.
  private static let confirmedInWindow = """
    kept AS (
      SELECT id AS order_id, confirmed_at AS at, currency, total_minor FROM orders.orders
      WHERE confirmed_at >= $1 AND confirmed_at < $2 AND confirmed_at IS NOT NULL AND status <> 'CANCELLED'
    )
    """

  func placedByStatus(from start: Date, to end: Date) async throws -> [StatusCount] {
    try await pool.query(
      """
      SELECT status, count(*) FROM orders.orders
      WHERE created_at >= $1 AND created_at < $2 AND status <> 'FAILED'
      GROUP BY status ORDER BY status
      """, [start, end]
    ).map { StatusCount(status: try $0.decode(0, as: String.self), count: try $0.decode(1, as: Int64.self)) }
  }

  func failedCheckouts(from start: Date, to end: Date) async throws -> Int64 {
    try await pool.query(
      "SELECT count(*) FROM orders.status_history WHERE status = 'FAILED' AND changed_at >= $1 AND changed_at < $2", [start, end]
    ).first?.decode(0, as: Int64.self) ?? 0
  }

  func salesByDay(from start: Date, to end: Date) async throws -> [DaySales] {
    try await pool.query(
      """
      WITH \(Self.confirmedInWindow)
      SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency, count(*), sum(total_minor)::int8
      FROM kept GROUP BY 1, 2 ORDER BY 1, 2
      """, [start, end]
    ).map {
      DaySales(
        day: try $0.decode(0, as: String.self), currency: try $0.decode(1, as: String.self), orders: try $0.decode(2, as: Int64.self),
        revenueMinor: try $0.decode(3, as: Int64.self))
    }
  }

  func topProducts(from start: Date, to end: Date, limit: Int) async throws -> [ProductSales] {
    guard limit > 0 else { return [] }
    return try await pool.query(
      """
      WITH \(Self.confirmedInWindow)
      SELECT l.product_id, (array_agg(l.title ORDER BY k.at DESC))[1], k.currency, sum(l.quantity)::int8, sum(l.line_total_minor)::int8
      FROM kept k JOIN orders.order_lines l ON l.order_id = k.order_id
      GROUP BY l.product_id, k.currency
      ORDER BY 4 DESC, 5 DESC, l.product_id
      LIMIT $3
      """, [start, end, Int64(limit)]
    ).map {
      ProductSales(
        productID: try $0.decode(0, as: String.self), title: try $0.decode(1, as: String.self), currency: try $0.decode(2, as: String.self),
        units: try $0.decode(3, as: Int64.self), revenueMinor: try $0.decode(4, as: Int64.self))
    }
  }
}
