import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `payments`. Each method is one statement, or one step of a transaction its
/// caller owns (the `in tx:` methods); values always travel as parameters.
///
/// A transaction that changes a payment or its refunds locks the payment row first
/// (``lockPayment(_:in:)``), so changes of one payment serialize and never deadlock. Every
/// change of a payment's status appends a "payment.<status>" event (a PaymentResult) to the
/// schema's outbox in the same transaction; asynchronous authorization results also append a
/// "payment.order_event" (an ApplyOrderEventRequest) that the relay of order events forwards to
/// OrderService.
struct PaymentStore: Sendable {
  let pool: PostgresPool
  /// The status events (`payment.<status>`) have no relay: they are the record of every
  /// change, written published.
  let outbox = Outbox(schema: "payments", recordedTopics: Set(PaymentState.allCases.map(statusTopic)))

  /// The outbox topic of events for OrderService.ApplyOrderEvent.
  static let orderEventTopic = "payment.order_event"

  /// The outbox topic of a status change to `state` (a PaymentResult, for NotificationService).
  static func statusTopic(_ state: PaymentState) -> String { "payment." + state.rawValue.lowercased() }

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "a payments row holds a value the code does not know")
    var description: String
  }

  // MARK: Payments

  private static let paymentColumns = """
    id, seq, order_id, customer_id, request_scope, request_key, currency, amount_minor, captured_minor, refunded_minor, status, \
    decline_reason, provider_message, capture_immediately, card_brand, card_last_four, card_exp_month, card_exp_year, provider_id, \
    provider_payment_id, authorization_expires_at, needs_review, version, created_at, updated_at
    """

  private static func payment(_ row: PostgresRow) throws -> PaymentRecord {
    guard let state = PaymentState(rawValue: try row.decode(10, as: String.self)) else { throw StoreError.corruptRow }
    let currency = try row.decode(6, as: String.self)
    let decline = try row.decode(11, as: String?.self).map { name in
      CommerceV1.DeclineReason(
        rawValue: ProtoName.number(name, prefix: "DECLINE_REASON_", in: CommerceV1.DeclineReason.protoValueNames) ?? 0)
    }
    let brand = CommerceV1.CardBrand(
      rawValue: ProtoName.number(try row.decode(14, as: String.self), prefix: "CARD_BRAND_", in: CommerceV1.CardBrand.protoValueNames)
        ?? 0)
    return PaymentRecord(
      id: try row.decode(0, as: UUID.self), seq: try row.decode(1, as: Int64.self), orderID: try row.decode(2, as: String.self),
      customerID: try row.decode(3, as: String.self), requestScope: try row.decode(4, as: String.self),
      requestKey: try row.decode(5, as: String.self), amount: Money(amountMinor: try row.decode(7, as: Int64.self), currency: currency),
      capturedMinor: try row.decode(8, as: Int64.self), refundedMinor: try row.decode(9, as: Int64.self), state: state,
      declineReason: decline, providerMessage: try row.decode(12, as: String.self), captureImmediately: try row.decode(13, as: Bool.self),
      card: CardSummary(
        brand: brand, lastFour: try row.decode(15, as: String.self), expMonth: Int(try row.decode(16, as: Int32.self)),
        expYear: Int(try row.decode(17, as: Int32.self))),
      providerID: try row.decode(18, as: String.self), providerPaymentID: try row.decode(19, as: String?.self),
      authorizationExpiresAt: try row.decode(20, as: Date?.self), needsReview: try row.decode(21, as: Bool.self),
      version: try row.decode(22, as: Int64.self), createdAt: try row.decode(23, as: Date.self), updatedAt: try row.decode(24, as: Date.self))
  }

  /// Creates a PENDING payment for an AuthorizePayment call, or locks the one an earlier
  /// attempt of the same call (same scope and key) created. Returns it with whether it is new.
  func createOrLockPayment(_ payment: PaymentRecord, in tx: PostgresTransaction) async throws -> (payment: PaymentRecord, created: Bool) {
    let inserted = try await tx.query(
      """
      INSERT INTO payments.payments (id, order_id, customer_id, request_scope, request_key, currency, amount_minor, status,
        capture_immediately, card_brand, card_last_four, card_exp_month, card_exp_year, provider_id, version, created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15)
      ON CONFLICT (request_scope, request_key) DO NOTHING RETURNING \(Self.paymentColumns)
      """,
      [
        payment.id, payment.orderID, payment.customerID, payment.requestScope, payment.requestKey, payment.amount.currency,
        payment.amount.amountMinor, payment.state.rawValue, payment.captureImmediately, payment.card.brandName, payment.card.lastFour,
        Int32(payment.card.expMonth), Int32(payment.card.expYear), payment.providerID, payment.createdAt,
      ])
    if let row = inserted.first { return (try Self.payment(row), true) }
    let existing = try await tx.query(
      "SELECT \(Self.paymentColumns) FROM payments.payments WHERE request_scope = $1 AND request_key = $2 FOR UPDATE",
      [payment.requestScope, payment.requestKey])
    guard let row = existing.first else { throw StoreError.corruptRow }
    return (try Self.payment(row), false)
  }

  /// PENDING payments whose authorization has no provider answer (no provider payment id) and
  /// that last changed before `before`, oldest first: reconciliation's queue.
  func unansweredAuthorizations(olderThan before: Date, limit: Int) async throws -> [PaymentRecord] {
    try await pool.query(
      """
      SELECT \(Self.paymentColumns) FROM payments.payments
      WHERE status = 'PENDING' AND provider_payment_id IS NULL AND updated_at < $1 ORDER BY updated_at LIMIT $2
      """, [before, Int64(limit)]
    ).map(Self.payment)
  }

  /// Marks a locked payment as touched now: a new attempt of its authorization is under way, so
  /// reconciliation leaves it alone for a while.
  func touchPayment(_ id: UUID, now: Date, in tx: PostgresTransaction) async throws {
    try await tx.query([Self.touchWrite(id, now: now)])
  }

  /// The statement of ``touchPayment(_:now:in:)``, for a batch.
  static func touchWrite(_ id: UUID, now: Date) throws -> PostgresTransaction.Statement {
    try PostgresTransaction.Statement("UPDATE payments.payments SET updated_at = greatest(updated_at, $2) WHERE id = $1", [id, now])
  }

  /// A payment, without locks.
  func payment(_ id: UUID) async throws -> PaymentRecord? {
    try await pool.query("SELECT \(Self.paymentColumns) FROM payments.payments WHERE id = $1", [id]).first.map(Self.payment)
  }

  /// Locks a payment for change.
  func lockPayment(_ id: UUID, in tx: PostgresTransaction) async throws -> PaymentRecord? {
    try await tx.query("SELECT \(Self.paymentColumns) FROM payments.payments WHERE id = $1 FOR UPDATE", [id]).first.map(Self.payment)
  }

  /// Locks the payment a provider knows as `providerPaymentID`.
  func lockPayment(provider: String, providerPaymentID: String, in tx: PostgresTransaction) async throws -> PaymentRecord? {
    try await tx.query(
      "SELECT \(Self.paymentColumns) FROM payments.payments WHERE provider_id = $1 AND provider_payment_id = $2 FOR UPDATE",
      [provider, providerPaymentID]
    ).first.map(Self.payment)
  }

  /// Writes a locked payment's changed fields with the next version; returns it as stored.
  func updatePayment(_ payment: PaymentRecord, now: Date, in tx: PostgresTransaction) async throws -> PaymentRecord {
    let declineName = payment.declineReason.map {
      ProtoName.short(CommerceV1.DeclineReason.protoValueNames[$0.rawValue], prefix: "DECLINE_REASON_")
    }
    let rows = try await tx.query(
      """
      UPDATE payments.payments SET status = $2, captured_minor = $3, refunded_minor = $4, decline_reason = $5, provider_message = $6,
        card_brand = $7, card_last_four = $8, card_exp_month = $9, card_exp_year = $10, provider_payment_id = $11,
        authorization_expires_at = $12, needs_review = $13, version = version + 1, updated_at = greatest($14, updated_at)
      WHERE id = $1 RETURNING \(Self.paymentColumns)
      """,
      [
        payment.id, payment.state.rawValue, payment.capturedMinor, payment.refundedMinor, declineName,
        String(payment.providerMessage.prefix(1000)), payment.card.brandName, payment.card.lastFour, Int32(payment.card.expMonth),
        Int32(payment.card.expYear), payment.providerPaymentID, payment.authorizationExpiresAt, payment.needsReview, now,
      ])
    guard let row = rows.first else { throw StoreError.corruptRow }
    return try Self.payment(row)
  }

  /// One page of an order's payments, newest first, after the position `afterSeq`.
  func paymentPage(orderID: String, afterSeq: Int64?, limit: Int) async throws -> [PaymentRecord] {
    try await pool.query(
      """
      SELECT \(Self.paymentColumns) FROM payments.payments WHERE order_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3
      """, [orderID, afterSeq ?? Int64.max, Int64(limit)]
    ).map(Self.payment)
  }

  /// The customers an order's payments name (one, unless callers disagreed).
  func customers(ofOrder orderID: String) async throws -> Set<String> {
    Set(
      try await pool.query("SELECT DISTINCT customer_id FROM payments.payments WHERE order_id = $1", [orderID]).map {
        try $0.decode(0, as: String.self)
      })
  }

  // MARK: Refunds

  private static let refundColumns = """
    id, payment_id, request_scope, request_key, currency, amount_minor, status, reason, return_id, note, provider_refund_id, \
    needs_review, created_at, updated_at
    """

  private static func refund(_ row: PostgresRow) throws -> RefundRecord {
    guard let state = RefundState(rawValue: try row.decode(6, as: String.self)),
      let reason = ProtoName.number(try row.decode(7, as: String.self), prefix: "REFUND_REASON_", in: CommerceV1.RefundReason.protoValueNames)
    else { throw StoreError.corruptRow }
    return RefundRecord(
      id: try row.decode(0, as: UUID.self), paymentID: try row.decode(1, as: UUID.self), requestScope: try row.decode(2, as: String.self),
      requestKey: try row.decode(3, as: String.self),
      amount: Money(amountMinor: try row.decode(5, as: Int64.self), currency: try row.decode(4, as: String.self)), state: state,
      reason: CommerceV1.RefundReason(rawValue: reason), returnID: try row.decode(8, as: String.self), note: try row.decode(9, as: String.self),
      providerRefundID: try row.decode(10, as: String?.self), needsReview: try row.decode(11, as: Bool.self),
      createdAt: try row.decode(12, as: Date.self), updatedAt: try row.decode(13, as: Date.self))
  }

  /// The refunds of these payments, oldest first, by payment.
  func refunds(of payments: [UUID]) async throws -> [UUID: [RefundRecord]] {
    guard !payments.isEmpty else { return [:] }
    let rows = try await pool.query(
      "SELECT \(Self.refundColumns) FROM payments.refunds WHERE payment_id = ANY($1) ORDER BY created_at, id", [payments])
    return Dictionary(grouping: try rows.map(Self.refund), by: \.paymentID)
  }

  /// The refunds of a locked payment, oldest first.
  func refunds(of payment: UUID, in tx: PostgresTransaction) async throws -> [RefundRecord] {
    try await tx.query("SELECT \(Self.refundColumns) FROM payments.refunds WHERE payment_id = $1 ORDER BY created_at, id", [payment])
      .map(Self.refund)
  }

  /// PENDING refunds the provider never answered, last changed before `before`, oldest first.
  func unansweredRefunds(olderThan before: Date, limit: Int) async throws -> [RefundRecord] {
    try await pool.query(
      """
      SELECT \(Self.refundColumns) FROM payments.refunds
      WHERE status = 'PENDING' AND provider_refund_id IS NULL AND updated_at < $1 ORDER BY updated_at LIMIT $2
      """, [before, Int64(limit)]
    ).map(Self.refund)
  }

  /// The refund an earlier attempt of a RefundPayment call (same scope and key) created.
  func refund(scope: String, key: String, in tx: PostgresTransaction) async throws -> RefundRecord? {
    try await tx.query("SELECT \(Self.refundColumns) FROM payments.refunds WHERE request_scope = $1 AND request_key = $2", [scope, key])
      .first.map(Self.refund)
  }

  /// The refund a provider knows as `providerRefundID`.
  func refund(providerRefundID: String, in tx: PostgresTransaction) async throws -> RefundRecord? {
    try await tx.query("SELECT \(Self.refundColumns) FROM payments.refunds WHERE provider_refund_id = $1", [providerRefundID])
      .first.map(Self.refund)
  }

  /// Stores a new PENDING refund of a locked payment.
  func insertRefund(_ refund: RefundRecord, in tx: PostgresTransaction) async throws -> RefundRecord {
    let rows = try await tx.query(
      """
      INSERT INTO payments.refunds (id, payment_id, request_scope, request_key, currency, amount_minor, status, reason, return_id, note,
        created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING \(Self.refundColumns)
      """,
      [
        refund.id, refund.paymentID, refund.requestScope, refund.requestKey, refund.amount.currency, refund.amount.amountMinor,
        refund.state.rawValue, ProtoName.short(CommerceV1.RefundReason.protoValueNames[refund.reason.rawValue], prefix: "REFUND_REASON_"),
        refund.returnID, refund.note, refund.createdAt,
      ])
    guard let row = rows.first else { throw StoreError.corruptRow }
    return try Self.refund(row)
  }

  /// Writes a refund's state, provider id and review flag; returns it as stored.
  func updateRefund(_ refund: RefundRecord, now: Date, in tx: PostgresTransaction) async throws -> RefundRecord {
    let rows = try await tx.query(
      """
      UPDATE payments.refunds SET status = $2, provider_refund_id = $3, needs_review = $4, updated_at = greatest($5, updated_at)
      WHERE id = $1 RETURNING \(Self.refundColumns)
      """, [refund.id, refund.state.rawValue, refund.providerRefundID, refund.needsReview, now])
    guard let row = rows.first else { throw StoreError.corruptRow }
    return try Self.refund(row)
  }

  // MARK: Ledger and outbox

  /// Appends a ledger entry for a payment. For a provider event, returns false (and writes
  /// nothing) when the event (provider_id, provider_event_id) was recorded before.
  @discardableResult
  func appendLedger(_ event: LedgerEvent, payment: UUID, now: Date, in tx: PostgresTransaction) async throws -> Bool {
    try await tx.query([Self.ledgerWrite(event, payment: payment, now: now)]).affectedRows == 1
  }

  /// The statement of ``appendLedger(_:payment:now:in:)``, for a batch.
  static func ledgerWrite(_ event: LedgerEvent, payment: UUID, now: Date) throws -> PostgresTransaction.Statement {
    try PostgresTransaction.Statement(
      """
      INSERT INTO payments.payment_events (payment_id, refund_id, kind, provider_key, provider_id, provider_event_id, provider_event_kind,
        outcome, amount_minor, currency, status_before, status_after, flagged, actor, detail, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
      ON CONFLICT (provider_id, provider_event_id) DO NOTHING
      """,
      [
        payment, event.refundID, event.kind.rawValue, event.providerKey, event.providerID, event.providerEventID, event.providerEventKind,
        event.outcome, event.amount?.amountMinor, event.amount?.currency, event.statusBefore, event.statusAfter, event.flagged, event.actor,
        event.detail.map { String($0.prefix(1000)) }, now,
      ])
  }

  /// Whether a provider event was recorded before.
  func providerEventRecorded(provider: String, eventID: String, in tx: PostgresTransaction) async throws -> Bool {
    !(try await tx.query(
      "SELECT 1 FROM payments.payment_events WHERE provider_id = $1 AND provider_event_id = $2", [provider, eventID]
    ).isEmpty)
  }

  /// Whether the ledger holds an entry of `kind` for a payment and forwarded key.
  func ledgerHasResult(_ kind: String, payment: UUID, providerKey: String, in tx: PostgresTransaction) async throws -> Bool {
    !(try await tx.query(
      "SELECT 1 FROM payments.payment_events WHERE payment_id = $1 AND kind = $2 AND provider_key = $3 LIMIT 1",
      [payment, kind, providerKey]
    ).isEmpty)
  }

  /// A payment's ledger, oldest first (kind, outcome, forwarded key, flagged).
  func ledger(of payment: UUID) async throws -> [(kind: String, outcome: String?, providerKey: String?, flagged: Bool)] {
    try await pool.query(
      "SELECT kind, outcome, provider_key, flagged FROM payments.payment_events WHERE payment_id = $1 ORDER BY seq", [payment]
    ).map { row in
      (try row.decode(0, as: String.self), try row.decode(1, as: String?.self), try row.decode(2, as: String?.self), try row.decode(3, as: Bool.self))
    }
  }

  /// Announces a payment's new status (a PaymentResult for NotificationService); `amount` is
  /// what the change concerns (authorized, captured or refunded).
  func publishStatus(_ payment: PaymentRecord, amount: Money, in tx: PostgresTransaction) async throws {
    try await tx.query([try statusWrite(payment, amount: amount)])
  }

  /// The statement of ``publishStatus(_:amount:in:)`` (one outbox statement for the status event
  /// and, for a customer-facing status, the customer's notification), for a batch.
  func statusWrite(_ payment: PaymentRecord, amount: Money) throws -> PostgresTransaction.Statement {
    let event = CommerceV1.PaymentResult.with {
      $0.paymentId = payment.id.lowercasedString
      $0.orderId = payment.orderID
      $0.status = payment.state.proto
      $0.declineReason = payment.declineReason ?? .unspecified
      $0.amount = amount.proto
    }
    var events = [try Outbox.NewEvent(event, topic: Self.statusTopic(payment.state), aggregateID: payment.id.lowercasedString)]
    if Self.customerFacing.contains(payment.state) {
      events.append(try outbox.notificationEvent(to: payment.customerID, .with { $0.event = .paymentResult(event) }, occurredAt: payment.updatedAt))
    }
    // Never nil: there is at least one event.
    return try outbox.appending(events)!
  }

  /// The statuses the customer is told about (PAYMENT_RESULT notifications, delivered by
  /// NotificationRelay): PENDING, VOIDED and FAILED are the checkout's own business.
  static let customerFacing: Set<PaymentState> = [.authorized, .declined, .captured, .partiallyRefunded, .refunded]

  /// Queues an event for OrderService.ApplyOrderEvent (its event_id is set to the outbox id
  /// when it is sent).
  func publishOrderEvent(_ payment: PaymentRecord, kind: CommerceV1.OrderEventKind, at date: Date, in tx: PostgresTransaction) async throws {
    let event = CommerceV1.ApplyOrderEventRequest.with {
      $0.orderId = payment.orderID
      $0.kind = kind
      $0.subjectId = payment.id.lowercasedString
      $0.occurTime = .init(date)
    }
    try await outbox.append(event, topic: Self.orderEventTopic, aggregateID: payment.orderID, in: tx)
  }
}

// MARK: Statistics (GetPaymentStats)

extension PaymentStore {
  /// Refunds that succeeded in [start, end), summed per currency.
  func succeededRefunds(from start: Date, to end: Date) async throws -> [Money] {
    try await pool.query(
      """
      SELECT currency, sum(amount_minor)::int8 FROM payments.refunds
      WHERE status = 'SUCCEEDED' AND updated_at >= $1 AND updated_at < $2
      GROUP BY currency ORDER BY currency
      """, [start, end]
    ).map { Money(amountMinor: try $0.decode(1, as: Int64.self), currency: try $0.decode(0, as: String.self)) }
  }

  /// Authorizations declined in [start, end).
  func declines(from start: Date, to end: Date) async throws -> Int64 {
    try await pool.query(
      "SELECT count(*) FROM payments.payments WHERE status = 'DECLINED' AND updated_at >= $1 AND updated_at < $2", [start, end]
    ).first?.decode(0, as: Int64.self) ?? 0
  }
}
