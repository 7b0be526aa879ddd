import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `shipping`. Each method is one transaction (or one statement, or a step of
/// the transaction its caller's idempotency key runs in), named for what it does; values always
/// travel as parameters.
///
/// Every change of a shipment bumps its version, writes its outbox events (the ApplyOrderEvent
/// request OrderService must see, and the customer's notification of a new status) and sends
/// `NOTIFY shipping_shipment_changed` (payload: the shipment id) in the same transaction, so the
/// events exist exactly when the change committed and a watcher woken by the notification reads
/// it.
struct ShippingStore: Sendable {
  let pool: PostgresPool
  let outbox = Outbox(schema: "shipping")

  /// The channel WatchShipment listens on; the payload is the changed shipment's id.
  static let changeChannel = "shipping_shipment_changed"
  /// Outbox topic of the events OrderService applies (ApplyOrderEventRequest messages).
  static let orderEventTopic = "shipment.order_event"

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "a shipping row holds a value the code does not know")
    var description: String
  }

  // MARK: Reading

  private static let columns = [
    "id", "order_id", "customer_id", "seller_id", "carrier_id", "tracking_number", "status", "shipping_speed", "destination",
    "warehouse_id", "estimated_delivery_at", "latest_sequence", "last_sequence", "handed_over", "cancel_reason", "created_at",
    "updated_at", "delivered_at", "cancelled_at", "version",
  ]
  private static let columnList = columns.joined(separator: ", ")
  private static let eventColumns =
    "id, shipment_id, sequence, status, location, occur_at, recorded_at, note, reporter_id, partner_event_id"

  private static func event(_ row: PostgresRow) throws -> TrackingEventRecord {
    guard let status = CommerceV1.ShipmentStatus(storedName: try row.decode(3, as: String.self)) else { throw StoreError.corruptRow }
    return TrackingEventRecord(
      id: try row.decode(0, as: UUID.self), shipmentID: try row.decode(1, as: UUID.self), sequence: try row.decode(2, as: Int64.self),
      status: status, location: try row.decode(4, as: [UInt8]?.self).map { try CommerceV1.TrackingLocation(serializedBytes: $0) },
      occurAt: try row.decode(5, as: Date.self), recordedAt: try row.decode(6, as: Date.self), note: try row.decode(7, as: String.self),
      reporterID: try row.decode(8, as: String.self), partnerEventID: try row.decode(9, as: String?.self))
  }

  /// Shipments' rows with their lines and latest events (in `tx`, or from the pool).
  private func load(_ rows: PostgresRows, in tx: PostgresTransaction?) async throws -> [ShipmentRecord] {
    var shipments: [ShipmentRecord] = try rows.map { row in
      guard let status = CommerceV1.ShipmentStatus(storedName: try row.decode(6, as: String.self)) else { throw StoreError.corruptRow }
      return ShipmentRecord(
        id: try row.decode(0, as: UUID.self), orderID: try row.decode(1, as: String.self), customerID: try row.decode(2, as: String.self),
        sellerID: try row.decode(3, as: String.self), carrierID: try row.decode(4, as: String.self),
        trackingNumber: try row.decode(5, as: String.self), status: status,
        shippingSpeed: CommerceV1.ShippingSpeed(rawValue: try row.decode(7, as: Int32.self)),
        destination: try CommerceV1.Address(serializedBytes: try row.decode(8, as: [UInt8].self)),
        warehouseID: try row.decode(9, as: String.self), estimatedDeliveryAt: try row.decode(10, as: Date?.self),
        latestSequence: try row.decode(11, as: Int64?.self), lastSequence: try row.decode(12, as: Int64.self),
        handedOver: try row.decode(13, as: Bool.self), cancelReason: try row.decode(14, as: String?.self),
        createdAt: try row.decode(15, as: Date.self), updatedAt: try row.decode(16, as: Date.self),
        deliveredAt: try row.decode(17, as: Date?.self), cancelledAt: try row.decode(18, as: Date?.self),
        version: try row.decode(19, as: Int64.self), lines: [], latestEvent: nil)
    }
    guard !shipments.isEmpty else { return [] }
    let ids = shipments.map(\.id)
    let lineSQL =
      "SELECT shipment_id, order_line_id, product_id, quantity FROM shipping.shipment_lines WHERE shipment_id = ANY($1) ORDER BY shipment_id, line_index"
    let eventSQL =
      "SELECT \(Self.eventColumns) FROM shipping.tracking_events e WHERE (e.shipment_id, e.sequence) IN "
      + "(SELECT id, latest_sequence FROM shipping.shipments WHERE id = ANY($1) AND latest_sequence IS NOT NULL)"
    let lineRows: PostgresRows
    let eventRows: PostgresRows
    if let tx {
      lineRows = try await tx.query(lineSQL, [ids])
      eventRows = try await tx.query(eventSQL, [ids])
    } else {
      lineRows = try await pool.query(lineSQL, [ids])
      eventRows = try await pool.query(eventSQL, [ids])
    }
    var lines: [UUID: [ShipmentLineRecord]] = [:]
    for row in lineRows {
      lines[try row.decode(0, as: UUID.self), default: []].append(
        ShipmentLineRecord(
          orderLineID: try row.decode(1, as: String.self), productID: try row.decode(2, as: String.self),
          quantity: try row.decode(3, as: Int32.self)))
    }
    var latest: [UUID: TrackingEventRecord] = [:]
    for row in eventRows {
      let event = try Self.event(row)
      latest[event.shipmentID] = event
    }
    for index in shipments.indices {
      shipments[index].lines = lines[shipments[index].id] ?? []
      shipments[index].latestEvent = latest[shipments[index].id]
    }
    return shipments
  }

  /// A shipment, without locks.
  func shipment(_ id: UUID) async throws -> ShipmentRecord? {
    try await load(pool.query("SELECT \(Self.columnList) FROM shipping.shipments WHERE id = $1", [id]), in: nil).first
  }

  /// The shipment a carrier's tracking number names.
  func shipment(carrierID: String, trackingNumber: String) async throws -> ShipmentRecord? {
    try await load(
      pool.query(
        "SELECT \(Self.columnList) FROM shipping.shipments WHERE carrier_id = $1 AND tracking_number = $2", [carrierID, trackingNumber]),
      in: nil
    ).first
  }

  /// An order's shipments, oldest first.
  func shipments(orderID: String) async throws -> [ShipmentRecord] {
    try await load(
      pool.query("SELECT \(Self.columnList) FROM shipping.shipments WHERE order_id = $1 ORDER BY created_at, id", [orderID]), in: nil)
  }

  /// A shipment's events in occur-time order (ties: recording order), the whole timeline.
  func timeline(_ id: UUID) async throws -> [TrackingEventRecord] {
    try await pool.query(
      "SELECT \(Self.eventColumns) FROM shipping.tracking_events WHERE shipment_id = $1 ORDER BY occur_at, sequence", [id]
    ).map(Self.event)
  }

  /// A shipment's events recorded after `sequence`, in recording order.
  func events(_ id: UUID, after sequence: Int64) async throws -> [TrackingEventRecord] {
    try await pool.query(
      "SELECT \(Self.eventColumns) FROM shipping.tracking_events WHERE shipment_id = $1 AND sequence > $2 ORDER BY sequence",
      [id, sequence]
    ).map(Self.event)
  }

  // MARK: Creating

  /// Locks the units of an order's lines (creating their rows on first use) in `tx`, in
  /// order_line_id order, and returns the units of each line not yet in a shipment.
  func lockUnits(orderID: String, lines: [(id: String, ordered: Int32)], in tx: PostgresTransaction) async throws -> [String: Int32] {
    try await tx.query(
      """
      INSERT INTO shipping.order_line_units (order_line_id, order_id, ordered)
      SELECT id, $1, q FROM unnest($2::text[], $3::int4[]) AS l (id, q) ON CONFLICT DO NOTHING
      """, [orderID, lines.map { $0.id }, lines.map { $0.ordered }])
    let rows = try await tx.query(
      "SELECT order_line_id, ordered - in_shipments FROM shipping.order_line_units WHERE order_line_id = ANY($1) ORDER BY order_line_id FOR UPDATE",
      [lines.map { $0.id }])
    var remaining: [String: Int32] = [:]
    for row in rows { remaining[try row.decode(0, as: String.self)] = try row.decode(1, as: Int32.self) }
    return remaining
  }

  /// Stores a new shipment (LABEL_CREATED) in `tx`: its lines, their units (the schema refuses
  /// more than ordered), the SHIPMENT_CREATED order event and the customer's notification.
  func insert(_ s: ShipmentRecord, in tx: PostgresTransaction) async throws {
    try await tx.query(
      """
      INSERT INTO shipping.shipments (id, order_id, customer_id, seller_id, carrier_id, tracking_number, status, shipping_speed,
        destination, warehouse_id, estimated_delivery_at, created_at, updated_at, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 1)
      """,
      [
        s.id, s.orderID, s.customerID, s.sellerID, s.carrierID, s.trackingNumber, s.status.storedName, s.shippingSpeed.rawValue,
        try s.destination.serializedBytes(), s.warehouseID, s.estimatedDeliveryAt, s.createdAt,
      ])
    try await tx.query(
      """
      INSERT INTO shipping.shipment_lines (shipment_id, line_index, order_line_id, product_id, quantity)
      SELECT $1, i - 1, l, p, q FROM unnest($2::text[], $3::text[], $4::int4[]) WITH ORDINALITY AS x (l, p, q, i)
      """, [s.id, s.lines.map(\.orderLineID), s.lines.map(\.productID), s.lines.map(\.quantity)])
    try await changeUnits(s.lines, by: 1, in: tx)
    try await outbox.append(
      ShipmentMessages.orderEvent(.shipmentCreated, s, at: s.createdAt), topic: Self.orderEventTopic, aggregateID: s.orderID, in: tx)
    try await notifyCustomer(s, note: "", at: s.createdAt, in: tx)
    try await announce(s, in: tx)
  }

  private func changeUnits(_ lines: [ShipmentLineRecord], by sign: Int32, in tx: PostgresTransaction) async throws {
    try await tx.query(
      """
      UPDATE shipping.order_line_units AS u SET in_shipments = u.in_shipments + $2 * x.q
      FROM unnest($1::text[], $3::int4[]) AS x (l, q) WHERE u.order_line_id = x.l
      """, [lines.map(\.orderLineID), sign, lines.map(\.quantity)], planning: .perCall)
  }

  // MARK: Reports

  /// What recording a report did.
  struct Recorded: Sendable {
    var shipment: ShipmentRecord
    var event: TrackingEventRecord
    var duplicate: Bool
  }

  /// Records a partner's report in one transaction: the shipment is locked; a report whose
  /// partner_event_id is already recorded answers the earlier event (duplicate); otherwise the
  /// state machine (``ShipmentTransitions``) places it — the latest by occur time moves the
  /// status, an older one only joins the timeline — and the event, the shipment, the order
  /// events (SHIPMENT_SHIPPED at the first status in the carrier's hands, SHIPMENT_DELIVERED at
  /// delivery) and, when the status changed to one the customer hears of, their notification
  /// are written. Throws NOT_FOUND for an unknown shipment and
  /// INVALID_STATE_TRANSITION, recording nothing, for a transition the machine refuses.
  func record(
    _ report: TrackingEventRecord, now: Date, check: @Sendable (ShipmentRecord) throws -> Void
  ) async throws -> Recorded {
    try await pool.withTransaction { tx in
      let rows = try await tx.query("SELECT \(Self.columnList) FROM shipping.shipments WHERE id = $1 FOR UPDATE", [report.shipmentID])
      guard var shipment = try await load(rows, in: tx).first else {
        throw CommerceError.notFound("shipment", report.shipmentID.lowercasedString)
      }
      try check(shipment)
      if let partnerEventID = report.partnerEventID {
        let earlier = try await tx.query(
          "SELECT \(Self.eventColumns) FROM shipping.tracking_events WHERE shipment_id = $1 AND partner_event_id = $2",
          [report.shipmentID, partnerEventID])
        if let row = earlier.first { return Recorded(shipment: shipment, event: try Self.event(row), duplicate: true) }
      }
      let effect = try ShipmentTransitions.effect(
        of: report.status, at: report.occurAt, current: shipment.status, latest: shipment.latestEvent?.occurAt)
      var event = report
      event.sequence = shipment.lastSequence + 1
      try await tx.query(
        """
        INSERT INTO shipping.tracking_events (id, shipment_id, sequence, status, location, occur_at, recorded_at, note, reporter_id,
          partner_event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        [
          event.id, event.shipmentID, event.sequence, event.status.storedName, try event.location?.serializedBytes(), event.occurAt,
          event.recordedAt, event.note, event.reporterID, event.partnerEventID,
        ])
      shipment.lastSequence = event.sequence
      var orderEvents: [CommerceV1.OrderEventKind] = []
      let previousStatus = shipment.status
      if effect == .advance {
        shipment.status = event.status
        shipment.latestSequence = event.sequence
        shipment.latestEvent = event
        if event.status == .delivered { shipment.deliveredAt = event.occurAt }
        if event.status.carrierHasParcel, !shipment.handedOver {
          shipment.handedOver = true
          orderEvents.append(.shipmentShipped)
        }
        if event.status == .delivered { orderEvents.append(.shipmentDelivered) }
      }
      shipment = try await save(shipment, now: now, in: tx)
      for kind in orderEvents {
        try await outbox.append(
          ShipmentMessages.orderEvent(kind, shipment, at: event.occurAt), topic: Self.orderEventTopic, aggregateID: shipment.orderID, in: tx)
      }
      if effect == .advance, shipment.status != previousStatus, shipment.status.tellsCustomer {
        try await notifyCustomer(shipment, note: event.note, at: event.occurAt, in: tx)
      }
      try await announce(shipment, in: tx)
      return Recorded(shipment: shipment, event: event, duplicate: false)
    }
  }

  /// Writes a locked shipment's changeable columns with the next version.
  private func save(_ s: ShipmentRecord, now: Date, in tx: PostgresTransaction) async throws -> ShipmentRecord {
    var saved = s
    saved.version += 1
    saved.updatedAt = max(now, s.updatedAt)
    try await tx.query(
      """
      UPDATE shipping.shipments SET status = $2, latest_sequence = $3, last_sequence = $4, handed_over = $5, cancel_reason = $6,
        updated_at = $7, delivered_at = $8, cancelled_at = $9, version = $10
      WHERE id = $1
      """,
      [
        saved.id, saved.status.storedName, saved.latestSequence, saved.lastSequence, saved.handedOver, saved.cancelReason,
        saved.updatedAt, saved.deliveredAt, saved.cancelledAt, saved.version,
      ])
    return saved
  }

  // MARK: Cancelling

  /// Cancels a shipment in one transaction: a CANCELLED one is returned as it is; one past
  /// LABEL_CREATED fails with INVALID_STATE_TRANSITION; otherwise it becomes CANCELLED with a
  /// tracking event by `reporterID`, its units are no longer in a shipment, and the
  /// SHIPMENT_CANCELLED order event is written.
  func cancel(
    _ id: UUID, reason: String, reporterID: String, now: Date, check: @Sendable (ShipmentRecord) throws -> Void
  ) async throws -> ShipmentRecord {
    try await pool.withTransaction { tx in
      let rows = try await tx.query("SELECT \(Self.columnList) FROM shipping.shipments WHERE id = $1 FOR UPDATE", [id])
      guard var shipment = try await load(rows, in: tx).first else { throw CommerceError.notFound("shipment", id.lowercasedString) }
      try check(shipment)
      if shipment.status == .cancelled { return shipment }
      guard shipment.status == .labelCreated else {
        throw CommerceError.invalidTransition(from: shipment.status.storedName, to: CommerceV1.ShipmentStatus.cancelled.storedName)
      }
      let event = TrackingEventRecord(
        id: UUID(), shipmentID: id, sequence: shipment.lastSequence + 1, status: .cancelled, location: nil,
        occurAt: max(now, shipment.latestEvent?.occurAt ?? now), recordedAt: now, note: reason, reporterID: reporterID,
        partnerEventID: nil)
      try await tx.query(
        """
        INSERT INTO shipping.tracking_events (id, shipment_id, sequence, status, occur_at, recorded_at, note, reporter_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        [event.id, id, event.sequence, event.status.storedName, event.occurAt, event.recordedAt, event.note, event.reporterID])
      shipment.status = .cancelled
      shipment.cancelledAt = now
      shipment.cancelReason = reason
      shipment.lastSequence = event.sequence
      shipment.latestSequence = event.sequence
      shipment.latestEvent = event
      shipment = try await save(shipment, now: now, in: tx)
      try await changeUnits(shipment.lines, by: -1, in: tx)
      try await outbox.append(
        ShipmentMessages.orderEvent(.shipmentCancelled, shipment, at: now), topic: Self.orderEventTopic, aggregateID: shipment.orderID,
        in: tx)
      try await announce(shipment, in: tx)
      return shipment
    }
  }

  /// The wake-up of watchers.
  private func announce(_ s: ShipmentRecord, in tx: PostgresTransaction) async throws {
    try await tx.query("SELECT pg_notify($1, $2)", [Self.changeChannel, s.id.lowercasedString])
  }

  /// The customer's notification of the shipment's status (SHIPMENT_UPDATED, addressed to the
  /// order's customer), which NotificationRelay delivers to NotificationService once `tx`
  /// commits.
  private func notifyCustomer(_ s: ShipmentRecord, note: String, at occurredAt: Date, in tx: PostgresTransaction) async throws {
    try await outbox.appendNotification(
      to: s.customerID, .with { $0.event = .shipmentUpdated(ShipmentMessages.update(s, note: note)) }, occurredAt: occurredAt, in: tx)
  }
}
