import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `support`. Each method is one transaction (or one statement, or a step of
/// the transaction its caller's idempotency key runs in), named for what it does; values always
/// travel as parameters.
///
/// Every change of a return writes, in its transaction, the customer's RETURN_UPDATED
/// notification and the order event OrderService must see; a receipt also writes the
/// settlement intent (``settlementTopic``) that ``SupportService``'s settlement relay carries
/// out (restock, refund) after the commit.
struct SupportStore: Sendable {
  let pool: PostgresPool
  let outbox = Outbox(schema: "support")

  /// Outbox topic of the ApplyOrderEventRequests for OrderService.
  static let orderEventTopic = "return.order_event"
  /// Outbox topic of received returns waiting for their restock and refund (payload: a
  /// GetReturnRequest naming the return).
  static let settlementTopic = "return.settlement"

  struct StoreError: Error, CustomStringConvertible {
    var description: String
  }

  /// Microseconds since 1970: how list positions carry a time.
  static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1e6).rounded()) }
  private static let fromMicros = "(timestamptz 'epoch' + $@ * interval '1 microsecond')"
  private static func time(_ placeholder: Int) -> String { fromMicros.replacingOccurrences(of: "$@", with: "$\(placeholder)") }

  // MARK: Tickets

  private static let ticketColumns =
    "id, customer_id, subject, category, status, order_id, assignee_id, message_count, public_message_count, last_message_at, "
    + "last_public_message_at, resolved_at, created_at, updated_at, version"

  private static func ticket(_ row: PostgresRow) throws -> TicketRecord {
    TicketRecord(
      id: try row.decode(0, as: UUID.self), customerID: try row.decode(1, as: String.self), subject: try row.decode(2, as: String.self),
      category: .init(rawValue: try row.decode(3, as: Int32.self)), status: .init(rawValue: try row.decode(4, as: Int32.self)),
      orderID: try row.decode(5, as: String.self), assigneeID: try row.decode(6, as: String.self),
      messageCount: try row.decode(7, as: Int32.self), publicMessageCount: try row.decode(8, as: Int32.self),
      lastMessageAt: try row.decode(9, as: Date.self), lastPublicMessageAt: try row.decode(10, as: Date.self),
      resolvedAt: try row.decode(11, as: Date?.self), createdAt: try row.decode(12, as: Date.self),
      updatedAt: try row.decode(13, as: Date.self), version: try row.decode(14, as: Int64.self))
  }

  private static let messageColumns = "id, ticket_id, sequence, author_id, author_role, body, internal_note, created_at"

  private static func message(_ row: PostgresRow) throws -> TicketMessageRecord {
    TicketMessageRecord(
      id: try row.decode(0, as: UUID.self), ticketID: try row.decode(1, as: UUID.self), sequence: try row.decode(2, as: Int64.self),
      authorID: try row.decode(3, as: String.self), authorRole: .init(rawValue: try row.decode(4, as: Int32.self)),
      body: try row.decode(5, as: String.self), internalNote: try row.decode(6, as: Bool.self), createdAt: try row.decode(7, as: Date.self))
  }

  /// A ticket, without locks.
  func ticket(_ id: UUID) async throws -> TicketRecord? {
    try await pool.query("SELECT \(Self.ticketColumns) FROM support.tickets WHERE id = $1", [id]).map(Self.ticket).first
  }

  /// A ticket, locked for `tx`.
  func lockTicket(_ id: UUID, in tx: PostgresTransaction) async throws -> TicketRecord? {
    try await tx.query("SELECT \(Self.ticketColumns) FROM support.tickets WHERE id = $1 FOR UPDATE", [id]).map(Self.ticket).first
  }

  /// Stores a new ticket (no messages yet) in `tx`.
  func insert(_ t: TicketRecord, in tx: PostgresTransaction) async throws {
    try await tx.query(
      """
      INSERT INTO support.tickets (id, customer_id, subject, category, status, order_id, assignee_id, message_count, public_message_count,
        last_message_at, last_public_message_at, resolved_at, created_at, updated_at, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $8, NULL, $8, $8, $9)
      """,
      [t.id, t.customerID, t.subject, t.category.rawValue, t.status.rawValue, t.orderID, t.assigneeID, t.createdAt, t.version])
  }

  /// Writes a locked ticket's changeable columns as they are in `t`.
  func save(_ t: TicketRecord, in tx: PostgresTransaction) async throws {
    try await tx.query(
      """
      UPDATE support.tickets SET status = $2, assignee_id = $3, message_count = $4, public_message_count = $5, last_message_at = $6,
        last_public_message_at = $7, resolved_at = $8, updated_at = $9, version = $10
      WHERE id = $1
      """,
      [
        t.id, t.status.rawValue, t.assigneeID, t.messageCount, t.publicMessageCount, t.lastMessageAt, t.lastPublicMessageAt,
        t.resolvedAt, t.updatedAt, t.version,
      ])
  }

  /// Appends a message to a locked ticket's thread in `tx` (its sequence is the next one of the
  /// ticket's counters, which `ticket` gets), and the customer's notification of an agent's reply.
  func append(_ m: TicketMessageRecord, to ticket: inout TicketRecord, notify: Bool, in tx: PostgresTransaction) async throws
    -> TicketMessageRecord
  {
    var message = m
    message.sequence = Int64(ticket.messageCount) + 1
    try await tx.query(
      """
      INSERT INTO support.ticket_messages (id, ticket_id, sequence, author_id, author_role, body, internal_note, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      """,
      [
        message.id, message.ticketID, message.sequence, message.authorID, message.authorRole.rawValue, message.body, message.internalNote,
        message.createdAt,
      ])
    ticket.messageCount += 1
    ticket.lastMessageAt = message.createdAt
    if !message.internalNote {
      ticket.publicMessageCount += 1
      ticket.lastPublicMessageAt = message.createdAt
    }
    if notify {
      let status = ticket.status
      try await outbox.appendNotification(
        to: ticket.customerID,
        .with {
          $0.event = .ticketReplied(.with {
            $0.ticketId = message.ticketID.lowercasedString
            $0.messageId = message.id.lowercasedString
            $0.status = status
            $0.excerpt = String(message.body.prefix(200))
          })
        }, occurredAt: message.createdAt, in: tx)
    }
    return message
  }

  /// The filters of ListTickets.
  struct TicketFilter: Sendable {
    var statuses: [Int32] = []
    var category: Int32 = 0
    var customerID = ""
    var assigneeID = ""
  }

  /// One page of tickets, most recently updated first, after the position (update time in
  /// microseconds, id).
  func tickets(_ filter: TicketFilter, after: (Int64, UUID)?, limit: Int) async throws -> [TicketRecord] {
    var conditions: [String] = ["true"]
    var parameters: [any PostgresEncodable] = []
    if !filter.statuses.isEmpty {
      parameters.append(filter.statuses)
      conditions.append("status = ANY($\(parameters.count))")
    }
    if filter.category != 0 {
      parameters.append(filter.category)
      conditions.append("category = $\(parameters.count)")
    }
    if !filter.customerID.isEmpty {
      parameters.append(filter.customerID)
      conditions.append("customer_id = $\(parameters.count)")
    }
    if !filter.assigneeID.isEmpty {
      parameters.append(filter.assigneeID)
      conditions.append("assignee_id = $\(parameters.count)")
    }
    if let after {
      parameters.append(after.0)
      parameters.append(after.1)
      conditions.append("(updated_at, id) < (\(Self.time(parameters.count - 1)), $\(parameters.count))")
    }
    parameters.append(limit)
    return try await pool.query(
      "SELECT \(Self.ticketColumns) FROM support.tickets WHERE \(conditions.joined(separator: " AND ")) "
        + "ORDER BY updated_at DESC, id DESC LIMIT $\(parameters.count)", parameters
    ).map(Self.ticket)
  }

  /// Up to `limit` messages of a ticket after `sequence`, oldest first; internal notes only with
  /// `includingNotes`.
  func messages(_ ticketID: UUID, after sequence: Int64, includingNotes: Bool, limit: Int) async throws -> [TicketMessageRecord] {
    try await pool.query(
      "SELECT \(Self.messageColumns) FROM support.ticket_messages WHERE ticket_id = $1 AND sequence > $2 AND ($3 OR NOT internal_note) "
        + "ORDER BY sequence LIMIT $4", [ticketID, sequence, includingNotes, limit]
    ).map(Self.message)
  }

  /// RESOLVED tickets resolved before `cutoff`, oldest first (the sweeper closes them).
  func resolvedTickets(before cutoff: Date, limit: Int) async throws -> [UUID] {
    try await pool.query(
      "SELECT id FROM support.tickets WHERE status = 3 AND resolved_at < $1 ORDER BY resolved_at LIMIT $2", [cutoff, limit]
    ).map { try $0.decode(0, as: UUID.self) }
  }

  // MARK: Returns

  private static let returnColumns =
    "id, rma_code, order_id, customer_id, seller_id, status, customer_comment, decision_note, return_label_url, currency, payment_id, "
    + "warehouse_id, refund_id, created_at, updated_at, expire_at, receive_at, refund_at, version"

  /// Returns' rows with their lines (in `tx`, or from the pool).
  private func load(_ rows: PostgresRows, in tx: PostgresTransaction?) async throws -> [ReturnRecord] {
    var returns: [ReturnRecord] = try rows.map { row in
      ReturnRecord(
        id: try row.decode(0, as: UUID.self), rmaCode: try row.decode(1, as: String.self), orderID: try row.decode(2, as: String.self),
        customerID: try row.decode(3, as: String.self), sellerID: try row.decode(4, as: String.self),
        status: .init(rawValue: try row.decode(5, as: Int32.self)), customerComment: try row.decode(6, as: String.self),
        decisionNote: try row.decode(7, as: String.self), returnLabelURL: try row.decode(8, as: String.self),
        currency: try row.decode(9, as: String.self), paymentID: try row.decode(10, as: String.self),
        warehouseID: try row.decode(11, as: String.self), refundID: try row.decode(12, as: String.self),
        createdAt: try row.decode(13, as: Date.self), updatedAt: try row.decode(14, as: Date.self),
        expireAt: try row.decode(15, as: Date?.self), receiveAt: try row.decode(16, as: Date?.self),
        refundAt: try row.decode(17, as: Date?.self), version: try row.decode(18, as: Int64.self), lines: [])
    }
    guard !returns.isEmpty else { return [] }
    let sql =
      "SELECT return_id, order_line_id, product_id, title, quantity, reason, received_quantity, condition, unit_price_minor, "
      + "line_quantity, line_tax_minor, refund_minor FROM support.return_lines WHERE return_id = ANY($1) ORDER BY return_id, line_index"
    let ids = returns.map(\.id)
    let lineRows: PostgresRows
    if let tx { lineRows = try await tx.query(sql, [ids]) } else { lineRows = try await pool.query(sql, [ids]) }
    var lines: [UUID: [ReturnLineRecord]] = [:]
    for row in lineRows {
      lines[try row.decode(0, as: UUID.self), default: []].append(
        ReturnLineRecord(
          orderLineID: try row.decode(1, as: String.self), productID: try row.decode(2, as: String.self),
          title: try row.decode(3, as: String.self), quantity: try row.decode(4, as: Int32.self),
          reason: .init(rawValue: try row.decode(5, as: Int32.self)), receivedQuantity: try row.decode(6, as: Int32.self),
          condition: .init(rawValue: try row.decode(7, as: Int32.self)), unitPriceMinor: try row.decode(8, as: Int64.self),
          lineQuantity: try row.decode(9, as: Int32.self), lineTaxMinor: try row.decode(10, as: Int64.self),
          refundMinor: try row.decode(11, as: Int64?.self)))
    }
    for index in returns.indices { returns[index].lines = lines[returns[index].id] ?? [] }
    return returns
  }

  /// A return, without locks.
  func returnRecord(_ id: UUID) async throws -> ReturnRecord? {
    try await load(pool.query("SELECT \(Self.returnColumns) FROM support.returns WHERE id = $1", [id]), in: nil).first
  }

  /// A return, locked for `tx` after its order's lock row (the order in which every
  /// transaction that changes a return takes them).
  func lockReturn(_ id: UUID, in tx: PostgresTransaction) async throws -> ReturnRecord? {
    let order = try await tx.query("SELECT order_id FROM support.returns WHERE id = $1", [id])
    guard let orderID = try order.first?.decode(0, as: String.self) else { return nil }
    try await lockOrder(orderID, in: tx)
    return try await load(tx.query("SELECT \(Self.returnColumns) FROM support.returns WHERE id = $1 FOR UPDATE", [id]), in: tx).first
  }

  /// Locks the order's row (creating it on first use): every return change of one order runs
  /// one at a time from here to its commit.
  func lockOrder(_ orderID: String, in tx: PostgresTransaction) async throws {
    try await tx.query("INSERT INTO support.order_locks (order_id) VALUES ($1) ON CONFLICT DO NOTHING", [orderID])
    try await tx.query("SELECT order_id FROM support.order_locks WHERE order_id = $1 FOR UPDATE", [orderID])
  }

  /// The units of each of the order's lines already returned (received in RECEIVED or REFUNDED
  /// returns) or held by open returns (requested in REQUESTED or APPROVED ones), read under the
  /// order's lock; `receivedOnly` counts only the received units.
  func unitsTaken(orderID: String, receivedOnly: Bool = false, excluding: UUID? = nil, in tx: PostgresTransaction) async throws -> [String: Int32] {
    let rows = try await tx.query(
      """
      SELECT l.order_line_id, sum(CASE WHEN r.status IN (4, 5) THEN l.received_quantity WHEN $2 THEN 0 ELSE l.quantity END)::int4
      FROM support.returns r JOIN support.return_lines l ON l.return_id = r.id
      WHERE r.order_id = $1 AND r.status IN (1, 2, 4, 5) AND r.id IS DISTINCT FROM $3
      GROUP BY l.order_line_id
      """, [orderID, receivedOnly, excluding])
    var taken: [String: Int32] = [:]
    for row in rows { taken[try row.decode(0, as: String.self)] = try row.decode(1, as: Int32.self) }
    return taken
  }

  /// Stores a new return (REQUESTED) in `tx`, with the RETURN_REQUESTED order event and the
  /// customer's notification.
  func insert(_ r: ReturnRecord, in tx: PostgresTransaction) async throws {
    try await tx.query(
      """
      INSERT INTO support.returns (id, rma_code, order_id, customer_id, seller_id, status, customer_comment, currency, payment_id,
        created_at, updated_at, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
      """,
      [r.id, r.rmaCode, r.orderID, r.customerID, r.sellerID, r.status.rawValue, r.customerComment, r.currency, r.paymentID, r.createdAt, r.version])
    try await tx.query(
      """
      INSERT INTO support.return_lines (return_id, line_index, order_line_id, product_id, title, quantity, reason, unit_price_minor,
        line_quantity, line_tax_minor)
      SELECT $1, i - 1, l, p, t, q, c, u, n, x
      FROM unnest($2::text[], $3::text[], $4::text[], $5::int4[], $6::int4[], $7::int8[], $8::int4[], $9::int8[])
        WITH ORDINALITY AS v (l, p, t, q, c, u, n, x, i)
      """,
      [
        r.id, r.lines.map(\.orderLineID), r.lines.map(\.productID), r.lines.map(\.title), r.lines.map(\.quantity),
        r.lines.map(\.reason.rawValue), r.lines.map(\.unitPriceMinor), r.lines.map(\.lineQuantity), r.lines.map(\.lineTaxMinor),
      ])
    try await outbox.append(
      SupportMessages.orderEvent(.returnRequested, r, at: r.createdAt), topic: Self.orderEventTopic, aggregateID: r.orderID, in: tx)
    try await outbox.appendNotification(to: r.customerID, SupportMessages.returnUpdated(r), occurredAt: r.createdAt, in: tx)
  }

  /// Writes a locked return's changeable columns and its lines' receipt as they are in `r`,
  /// with the next version; appends the customer's notification of the new status, and
  /// `orderEvent` for OrderService when given. A return that became RECEIVED also gets its
  /// settlement intent.
  func save(_ r: ReturnRecord, orderEvent: CommerceV1.OrderEventKind?, now: Date, in tx: PostgresTransaction) async throws -> ReturnRecord {
    var saved = r
    saved.version += 1
    saved.updatedAt = max(now, r.updatedAt)
    try await tx.query(
      """
      UPDATE support.returns SET status = $2, decision_note = $3, return_label_url = $4, warehouse_id = $5, refund_id = $6,
        updated_at = $7, expire_at = $8, receive_at = $9, refund_at = $10, version = $11
      WHERE id = $1
      """,
      [
        saved.id, saved.status.rawValue, saved.decisionNote, saved.returnLabelURL, saved.warehouseID, saved.refundID, saved.updatedAt,
        saved.expireAt, saved.receiveAt, saved.refundAt, saved.version,
      ])
    if saved.status == .received {
      try await tx.query(
        """
        UPDATE support.return_lines AS l SET received_quantity = v.q, condition = v.c, refund_minor = v.m
        FROM unnest($2::text[], $3::int4[], $4::int4[], $5::int8[]) AS v (id, q, c, m)
        WHERE l.return_id = $1 AND l.order_line_id = v.id
        """,
        [
          saved.id, saved.lines.map(\.orderLineID), saved.lines.map(\.receivedQuantity), saved.lines.map(\.condition.rawValue),
          saved.lines.map { $0.refundMinor ?? 0 },
        ], planning: .perCall)
      try await outbox.append(
        CommerceV1.GetReturnRequest.with { $0.returnId = saved.id.lowercasedString }, topic: Self.settlementTopic,
        aggregateID: saved.id.lowercasedString, in: tx)
    }
    if let orderEvent {
      try await outbox.append(
        SupportMessages.orderEvent(orderEvent, saved, at: now), topic: Self.orderEventTopic, aggregateID: saved.orderID, in: tx)
    }
    try await outbox.appendNotification(to: saved.customerID, SupportMessages.returnUpdated(saved), occurredAt: now, in: tx)
    return saved
  }

  /// The filters of ListReturns.
  struct ReturnFilter: Sendable {
    var statuses: [Int32] = []
    var orderID = ""
    var customerID = ""
    var sellerID = ""
  }

  /// One page of returns, newest first, after the position (create time in microseconds, id).
  func returns(_ filter: ReturnFilter, after: (Int64, UUID)?, limit: Int) async throws -> [ReturnRecord] {
    var conditions: [String] = ["true"]
    var parameters: [any PostgresEncodable] = []
    if !filter.statuses.isEmpty {
      parameters.append(filter.statuses)
      conditions.append("status = ANY($\(parameters.count))")
    }
    for (column, value) in [("order_id", filter.orderID), ("customer_id", filter.customerID), ("seller_id", filter.sellerID)]
    where !value.isEmpty {
      parameters.append(value)
      conditions.append("\(column) = $\(parameters.count)")
    }
    if let after {
      parameters.append(after.0)
      parameters.append(after.1)
      conditions.append("(created_at, id) < (\(Self.time(parameters.count - 1)), $\(parameters.count))")
    }
    parameters.append(limit)
    return try await load(
      pool.query(
        "SELECT \(Self.returnColumns) FROM support.returns WHERE \(conditions.joined(separator: " AND ")) "
          + "ORDER BY created_at DESC, id DESC LIMIT $\(parameters.count)", parameters), in: nil)
  }

  /// APPROVED returns whose expiry passed by `now`, oldest first (the sweeper expires them).
  func expiredApprovals(at now: Date, limit: Int) async throws -> [UUID] {
    try await pool.query(
      "SELECT id FROM support.returns WHERE status = 2 AND expire_at <= $1 ORDER BY expire_at LIMIT $2", [now, limit]
    ).map { try $0.decode(0, as: UUID.self) }
  }

  /// The units returned (received in RECEIVED or REFUNDED returns) and refunded, in minor units,
  /// per order line of an order: what the return invariants are checked against.
  func received(orderID: String) async throws -> [String: (units: Int32, refunded: Int64)] {
    let rows = try await pool.query(
      """
      SELECT l.order_line_id, sum(l.received_quantity)::int4, sum(coalesce(l.refund_minor, 0))::int8
      FROM support.returns r JOIN support.return_lines l ON l.return_id = r.id
      WHERE r.order_id = $1 AND r.status IN (4, 5) GROUP BY l.order_line_id
      """, [orderID])
    var result: [String: (units: Int32, refunded: Int64)] = [:]
    for row in rows { result[try row.decode(0, as: String.self)] = (try row.decode(1, as: Int32.self), try row.decode(2, as: Int64.self)) }
    return result
  }

  // MARK: Stats

  /// Tickets OPEN or AWAITING_CUSTOMER, and returns REQUESTED, APPROVED or RECEIVED.
  func stats() async throws -> (openTickets: Int64, openReturns: Int64) {
    let rows = try await pool.query(
      "SELECT (SELECT count(*) FROM support.tickets WHERE status IN (1, 2)), (SELECT count(*) FROM support.returns WHERE status IN (1, 2, 4))")
    guard let row = rows.first else { return (0, 0) }
    return (try row.decode(0, as: Int64.self), try row.decode(1, as: Int64.self))
  }
}
