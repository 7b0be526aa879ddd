public import CommerceAPI
import CommerceKit
public import Crypto
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// PaymentService (payments.proto): authorization, capture, void and refund through a
/// ``PaymentProvider``, and the provider's asynchronous events (ReportProviderEvent, and the
/// signed webhook in front of it, ``ProviderWebhook``).
///
/// Handlers translate between the contract's messages and the domain; all SQL is in
/// `PaymentStore`. Access rules are enforced by CommerceKit's `AuthInterceptor`; handlers check
/// ownership (a customer reads only their own payments).
///
/// Decisions the contract leaves to the server:
/// - The provider is never called inside a transaction. A money-moving call runs in steps: a
///   transaction that checks the payment and records the request (a PENDING payment, a PENDING
///   refund, a ledger entry), the provider call (bounded by
///   ``Configuration/providerTimeout``), and a transaction that records the result. The
///   idempotency outcome is stored after the last step (`IdempotencyStore.run(_:body:)`).
/// - Each provider request carries the forwarded key "<method>:<idempotency_key>"
///   ("VoidPayment:<payment_id>" for VoidPayment, which has no key). When the provider cannot
///   be reached (refused, timed out, the answer lost) the call fails with UNAVAILABLE
///   (PAYMENT_PROVIDER_UNAVAILABLE) and a RetryInfo, and the payment or refund stays PENDING; a
///   retry with the same idempotency key finds it (by the caller and key) and asks the provider
///   again with the same forwarded key, which returns the first answer without charging twice.
/// - A raw test card is checked (digits, Luhn, expiry, CVC) before anything is stored; only its
///   brand, last four digits and expiry are kept. Card tokens are passed on and never stored.
/// - A decline is a payment in DECLINED (OK); a request the provider calls malformed (an
///   unknown token) leaves the payment FAILED and answers INVALID_ARGUMENT.
/// - Every status change appends a "payment.<status>" outbox event (a PaymentResult), and one
///   ledger entry per provider request, result and provider event, in the same transaction.
///   Asynchronous authorization results also append a "payment.order_event" that
///   a relay (``OutboxRelay/applyingOrderEvents(from:topic:pool:orders:logger:eventID:)``) forwards to OrderService.ApplyOrderEvent, with event ids "payments:<outbox id>".
/// - Capturing releases the rest of the hold: a partial capture is final. Refunds are PENDING
///   until the provider answers and count toward refunded_amount from the start, so concurrent
///   refunds never exceed the captured amount (the schema checks it too).
/// - ListPayments pages newest first by creation order.
/// - Idempotency scope: the caller (principal).
public struct PaymentService: CommerceV1.PaymentService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// Whether raw test cards are accepted (payments.proto: sandbox mode only).
    public var sandboxMode = true
    /// The provider in another process, reached over HTTP (`emporium payment-sandbox`); nil
    /// uses the in-process sandbox. Its timeout is ``providerTimeout``.
    public var networkProvider: HTTPPaymentProvider.Configuration?
    /// Whether ReportProviderEvent accepts only events signed with ``webhookSecret`` (the
    /// provider calls it directly); otherwise unsigned events from the payment-gateway identity
    /// are accepted too (its adapter checked the signature), and signed ones are checked.
    public var requireSignedEvents = false
    /// How long a provider request may take before its outcome counts as unknown.
    public var providerTimeout: Duration = .seconds(10)
    /// The RetryInfo delay of PAYMENT_PROVIDER_UNAVAILABLE.
    public var retryAfter: Duration = .seconds(1)
    /// How long an authorization holds (authorization_expire_time).
    public var authorizationHold: TimeInterval = 7 * 24 * 3600
    /// The secret the provider signs webhook deliveries with.
    public var webhookSecret = SymmetricKey(size: .bits256)
    /// How far a webhook delivery's timestamp may be from now.
    public var webhookTolerance: TimeInterval = 300
    /// Whether asynchronous authorization results are forwarded to OrderService (peer
    /// "orders") by the relay of order events.
    public var ordersRelay = true
    /// How often reconciliation looks for authorizations that got no answer.
    public var reconcileInterval: Duration = .seconds(5)
    /// How old an unanswered PENDING payment must be before reconciliation asks the provider:
    /// longer than any authorization call can still be running (twice the provider timeout).
    public var reconcileAfter: TimeInterval = 20
    /// How often finished idempotency keys older than 48 hours are deleted.
    public var sweepInterval: Duration = .seconds(3600)

    public init() {}
  }

  let store: PaymentStore
  let idempotency: IdempotencyStore
  let provider: any PaymentProvider
  let orders: CommerceV1.OrderService.Client?
  /// NotificationService, for the relay of payment results to customers; nil runs no relay.
  let notifications: (any ClientTransport)?
  let configuration: Configuration
  let logger: Logger
  let now: @Sendable () -> Date

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `payments` only (migrated beforehand).
  ///   - provider: the payment provider.
  ///   - orders: OrderService, for the relay of asynchronous results; nil runs no relay.
  public init(
    pool: PostgresPool, provider: any PaymentProvider, orders: (any ClientTransport)? = nil,
    notifications: (any ClientTransport)? = nil, configuration: Configuration = .init(),
    logger: Logger = Logger(label: "emporium.payments"), now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = PaymentStore(pool: pool)
    self.idempotency = IdempotencyStore(pool: pool, schema: "payments")
    self.provider = provider
    self.orders = orders.map(CommerceV1.OrderService.Client.init)
    self.notifications = notifications
    self.configuration = configuration
    self.logger = logger
    self.now = now
  }

  /// The receiving end of the provider's webhooks: verified events are applied as the
  /// "payment-gateway" identity, as ReportProviderEvent applies them.
  public var webhook: ProviderWebhook {
    ProviderWebhook(secret: configuration.webhookSecret, tolerance: configuration.webhookTolerance, now: now) { request in
      try await applyProviderEvent(request, actor: "service:" + ProviderWebhook.gatewayIdentity)
    }
  }

  /// The background work the process runs beside the handlers: the idempotency key sweep, the
  /// reconciliation, the outbox's retention, and the relay of asynchronous results to
  /// OrderService when there is one.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    var services: [any ServiceLifecycle.Service] = [
      PeriodicWork("payments idempotency sweep", every: configuration.sweepInterval, logger: logger) { [idempotency] in
        try await idempotency.purge()
      }
    ]
    services.append(
      PeriodicWork("payments reconciliation", every: configuration.reconcileInterval, logger: logger) { [self] in
        try await reconcile()
      })
    services.append(store.outbox.retention(pool: store.pool, logger: logger))
    if let orders {
      services.append(
        OutboxRelay.applyingOrderEvents(
          from: store.outbox, topic: PaymentStore.orderEventTopic, pool: store.pool, orders: orders, logger: logger,
          eventID: { event, _ in "payments:\(event.id)" }))
    }
    if let notifications {
      services.append(NotificationRelay(outbox: store.outbox, pool: store.pool, notifications: notifications, logger: logger))
    }
    return services
  }

  // MARK: Authorize

  public func authorizePayment(request: CommerceV1.AuthorizePaymentRequest, context: ServerContext) async throws
    -> CommerceV1.AuthorizePaymentResponse
  {
    var violations = FieldViolations()
    var method: ProviderPaymentMethod?
    switch request.paymentMethod?.method {
    case .testCard(let card)?:
      // Checked first, so that nothing about a raw card reaches any store outside sandbox mode.
      guard configuration.sandboxMode else {
        throw CommerceError.invalidArgument(
          field: "payment_method.test_card", "raw card numbers are accepted only in sandbox mode", reason: .testCardNotAllowed)
      }
      method = PaymentCard.validated(
        number: card.number, expMonth: card.expMonth, expYear: card.expYear, cvc: card.cvc, field: "payment_method.test_card",
        into: &violations
      ).map { .card($0) }
    case .cardToken(let token)?:
      violations.check((1...255).contains(token.utf8.count), "payment_method.card_token", "must be 1 to 255 characters")
      method = .token(token)
    case nil:
      violations.add("payment_method", "is required")
    }
    violations.check((1...64).contains(request.orderId.count), "order_id", "must be 1 to 64 characters")
    violations.check((1...64).contains(request.customerId.count), "customer_id", "must be 1 to 64 characters")
    let amount = Self.positiveAmount(request.amount, field: "amount", required: true, into: &violations)
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    guard let amount, let method else { throw CommerceError.invalidArgument(violations) }
    let caller = try context.principal()
    // The stored request hash must not be a hash of a card number (a card number is easily
    // guessed from its hash): the request is hashed with a raw card reduced to what is kept.
    var hashed = request
    if case .testCard(let card)? = request.paymentMethod?.method, case .card(let validated) = method {
      hashed.paymentMethod = .with {
        $0.method = .testCard(
          .with {
            $0.number = "\(validated.summary.brand.rawValue):\(validated.summary.lastFour)"
            $0.expMonth = card.expMonth
            $0.expYear = card.expYear
          })
      }
    }
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.PaymentService.AuthorizePayment.descriptor, key: request.idempotencyKey,
      request: hashed)
    return try await idempotency.run(call) {
      let payment = try await authorize(request, amount: amount, method: method, scope: call.scope, actor: caller.description)
      return .with { $0.payment = Self.message(payment, refunds: []) }
    }
  }

  private func authorize(
    _ request: CommerceV1.AuthorizePaymentRequest, amount: Money, method: ProviderPaymentMethod, scope: String, actor: String
  ) async throws -> PaymentRecord {
    let providerKey = "AuthorizePayment:" + request.idempotencyKey
    let card: CardSummary =
      if case .card(let card) = method { card.summary } else { .unknown }
    // 1. The PENDING payment, or the one an earlier attempt of this call created.
    let (payment, created) = try await store.pool.withTransaction { tx in
      let now = now()
      let new = PaymentRecord(
        id: UUID(), seq: 0, orderID: request.orderId, customerID: request.customerId, requestScope: scope,
        requestKey: request.idempotencyKey, amount: amount, capturedMinor: 0, refundedMinor: 0, state: .pending, declineReason: nil,
        providerMessage: "", captureImmediately: request.captureImmediately, card: card, providerID: provider.id, providerPaymentID: nil,
        authorizationExpiresAt: nil, needsReview: false, version: 1, createdAt: now, updatedAt: now)
      let (payment, created) = try await store.createOrLockPayment(new, in: tx)
      // The rest in one round trip with COMMIT.
      var writes: [PostgresTransaction.Statement] = []
      if created || payment.state == .pending {
        writes.append(
          try PaymentStore.ledgerWrite(
            LedgerEvent(
              kind: .authorizeRequested, providerKey: providerKey, amount: amount, statusAfter: payment.state.rawValue, actor: actor,
              detail: created ? nil : "retry"), payment: payment.id, now: now))
      }
      if created { writes.append(try store.statusWrite(payment, amount: amount)) }
      if !created && payment.state == .pending && payment.providerPaymentID == nil { writes.append(try PaymentStore.touchWrite(payment.id, now: now)) }
      try await tx.queryAndCommit(writes)
      return (payment, created)
    }
    if !created {
      guard payment.orderID == request.orderId, payment.customerID == request.customerId, payment.amount == amount,
        payment.captureImmediately == request.captureImmediately
      else {
        throw CommerceError.invalidArgument(field: "idempotency_key", "was used with a different request", reason: .idempotencyKeyReused)
      }
      // An earlier attempt got the provider's answer: that is the outcome.
      if payment.state != .pending || payment.providerPaymentID != nil { return payment }
    }

    // 2. The provider, with the forwarded key.
    let result: ProviderAuthorizationResult
    do {
      result = try await callProvider {
        try await provider.authorize(
          ProviderAuthorization(
            idempotencyKey: providerKey, amount: amount, method: method, captureImmediately: request.captureImmediately,
            reference: payment.id.lowercasedString))
      }
    } catch let error as ProviderError {
      switch error {
      case .unavailable(let why):
        throw try await providerUnavailable(payment.id, providerKey: providerKey, why: why, actor: actor)
      case .invalidRequest(let field, let message):
        _ = try await failAuthorization(payment.id, providerKey: providerKey, message: message, actor: actor)
        throw CommerceError.invalidArgument(field: field, message)
      case .rejected(let message):
        return try await failAuthorization(payment.id, providerKey: providerKey, message: message, actor: actor)
      }
    }

    // 3. The answer.
    return try await recordAuthorization(result, of: payment.id, amount: amount, providerKey: providerKey, actor: actor)
  }

  /// Records the provider's answer to a PENDING payment's authorization (unless a concurrent
  /// attempt already did), with its ledger entry and status event.
  private func recordAuthorization(
    _ result: ProviderAuthorizationResult, of id: UUID, amount: Money, providerKey: String, actor: String
  ) async throws -> PaymentRecord {
    try await store.pool.withTransaction { tx in
      let now = now()
      guard var payment = try await store.lockPayment(id, in: tx) else { throw PaymentStore.StoreError.corruptRow }
      // Settled meanwhile by a concurrent attempt.
      guard payment.state == .pending, payment.providerPaymentID == nil else { return payment }
      let before = payment.state
      payment.providerPaymentID = result.providerPaymentID
      if let card = result.card { payment.card = card }
      payment.providerMessage = result.message
      switch result.outcome {
      case .authorized:
        payment.state = .authorized
        payment.authorizationExpiresAt = now.addingTimeInterval(configuration.authorizationHold)
      case .captured:
        payment.state = .captured
        payment.capturedMinor = amount.amountMinor
      case .declined(let reason):
        payment.state = .declined
        payment.declineReason = reason == .unspecified ? .cardDeclined : reason
      case .pending:
        break
      }
      let stored = try await store.updatePayment(payment, now: now, in: tx)
      // The ledger entry and the status event in one round trip with COMMIT.
      var writes = [
        try PaymentStore.ledgerWrite(
          LedgerEvent(
            kind: .authorizeResult, providerKey: providerKey, outcome: stored.state.rawValue, amount: amount, statusBefore: before.rawValue,
            statusAfter: stored.state.rawValue, actor: actor, detail: result.message.isEmpty ? nil : result.message),
          payment: stored.id, now: now)
      ]
      if stored.state != before { writes.append(try store.statusWrite(stored, amount: amount)) }
      try await tx.queryAndCommit(writes)
      return stored
    }
  }

  // MARK: Reconciliation

  /// Settles PENDING payments whose authorization got no answer from the provider (the server
  /// died under the call, or it timed out and was never retried) once they are older than
  /// ``Configuration/reconcileAfter``: the provider is asked for its record under the forwarded
  /// key; a found authorization is recorded as if it had been answered, and one the provider
  /// never received fails the payment (no money moved). Either way the order learns it through
  /// the outbox (payment.order_event). Payments the provider answered PENDING (asynchronous) are
  /// left to its events. Refunds that got no answer (PENDING without the provider's refund id,
  /// equally old) are asked for again under their forwarded key: the provider answers the
  /// refund it made, or makes it now (the customer asked for it and it already counts against
  /// what may be refunded); its answer is recorded as RefundPayment records it. Returns how many
  /// payments and refunds it settled. `asOf` is the time the round takes as now (a test runs a
  /// later round than the clock's).
  @discardableResult
  func reconcile(limit: Int = 100, asOf: Date? = nil) async throws -> Int {
    let due = asOf.map { $0.addingTimeInterval(-configuration.reconcileAfter) } ?? now().addingTimeInterval(-configuration.reconcileAfter)
    let dueAuthorizations = try await store.unansweredAuthorizations(olderThan: due, limit: limit)
    var settled = 0
    for payment in dueAuthorizations {
      let providerKey = "AuthorizePayment:" + payment.requestKey
      let found: ProviderAuthorizationResult?
      do {
        found = try await callProvider { try await provider.findAuthorization(idempotencyKey: providerKey) }
      } catch {
        logger.info("reconciliation: provider unavailable", metadata: ["paymentId": "\(payment.id.lowercasedString)", "error": "\(error)"])
        continue
      }
      let actor = "service:payments"
      let stored: PaymentRecord
      if let found {
        stored = try await recordAuthorization(found, of: payment.id, amount: payment.amount, providerKey: providerKey, actor: actor)
      } else {
        stored = try await failAuthorization(
          payment.id, providerKey: providerKey, message: "the provider never received the authorization", actor: actor)
      }
      if stored.state != .pending {
        settled += 1
        try await store.pool.withTransaction { tx in
          try await store.publishOrderEvent(stored, kind: stored.state == .authorized || stored.state == .captured ? .paymentAuthorized : .paymentFailed, at: now(), in: tx)
        }
      }
    }
    let refunds = try await store.unansweredRefunds(olderThan: due, limit: limit)
    for refund in refunds {
      guard let payment = try await store.payment(refund.paymentID), let providerPaymentID = payment.providerPaymentID else { continue }
      let providerKey = "RefundPayment:" + refund.requestKey
      let result: ProviderRefundResult
      do {
        result = try await callProvider {
          try await provider.refund(ProviderRefund(idempotencyKey: providerKey, providerPaymentID: providerPaymentID, amount: refund.amount))
        }
      } catch ProviderError.rejected(let message) {
        result = ProviderRefundResult(providerRefundID: "", outcome: .failed, message: message)
      } catch {
        logger.info("reconciliation: provider unavailable", metadata: ["refundId": "\(refund.id.lowercasedString)", "error": "\(error)"])
        continue
      }
      let (_, recorded) = try await recordRefundResult(
        result, refund: refund.id, of: refund.paymentID, providerKey: providerKey, actor: "service:payments")
      if recorded.state != .pending || recorded.providerRefundID != nil { settled += 1 }
    }
    return settled
  }

  /// A PENDING payment the provider refused outright becomes FAILED.
  private func failAuthorization(_ id: UUID, providerKey: String, message: String, actor: String) async throws -> PaymentRecord {
    try await store.pool.withTransaction { tx in
      let now = now()
      guard var payment = try await store.lockPayment(id, in: tx) else { throw PaymentStore.StoreError.corruptRow }
      guard payment.state == .pending else { return payment }
      payment.state = .failed
      payment.providerMessage = message
      let stored = try await store.updatePayment(payment, now: now, in: tx)
      try await store.appendLedger(
        LedgerEvent(
          kind: .providerRejected, providerKey: providerKey, outcome: "FAILED", statusBefore: "PENDING", statusAfter: "FAILED", actor: actor,
          detail: message), payment: id, now: now, in: tx)
      try await store.publishStatus(stored, amount: stored.amount, in: tx)
      return stored
    }
  }

  // MARK: Capture and void

  public func capturePayment(request: CommerceV1.CapturePaymentRequest, context: ServerContext) async throws
    -> CommerceV1.CapturePaymentResponse
  {
    var violations = FieldViolations()
    violations.check(!request.paymentId.isEmpty, "payment_id", "is required")
    let requested = Self.positiveAmount(request.amount, field: "amount", required: false, into: &violations)
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.PaymentService.CapturePayment.descriptor, key: request.idempotencyKey, request: request)
    let id = try Self.paymentID(request.paymentId)
    let actor = caller.description
    return try await idempotency.run(call) {
      let providerKey = "CapturePayment:" + request.idempotencyKey
      // 1. Check and record the request.
      let step = try await store.pool.withTransaction { tx -> (payment: PaymentRecord, amount: Money, done: Bool) in
        guard let payment = try await store.lockPayment(id, in: tx) else { throw CommerceError.notFound("payment", request.paymentId) }
        if payment.state.isCaptured, try await hasResult(.captureResult, payment: id, providerKey: providerKey, in: tx) {
          return (payment, payment.captured, true)
        }
        guard payment.state == .authorized else { throw CommerceError.invalidTransition(from: payment.state.rawValue, to: "CAPTURED") }
        let amount = requested ?? payment.amount
        try Self.checkCurrency(amount, of: payment)
        guard amount.amountMinor <= payment.amount.amountMinor else { throw Self.exceedsRemaining(payment.amount) }
        try await store.appendLedger(
          LedgerEvent(
            kind: .captureRequested, providerKey: providerKey, amount: amount, statusBefore: payment.state.rawValue, actor: actor),
          payment: id, now: now(), in: tx)
        return (payment, amount, false)
      }
      if step.done { return .with { $0.payment = Self.message(step.payment, refunds: []) } }
      guard let providerPaymentID = step.payment.providerPaymentID else { throw PaymentStore.StoreError.corruptRow }

      // 2. The provider.
      do {
        _ = try await callProvider {
          try await provider.capture(ProviderCapture(idempotencyKey: providerKey, providerPaymentID: providerPaymentID, amount: step.amount))
        }
      } catch let error as ProviderError {
        throw try await providerFailure(error, payment: id, providerKey: providerKey, requested: "CAPTURED", actor: actor)
      }

      // 3. The answer.
      let captured = try await settleAuthorization(
        id, to: .captured, capturing: step.amount, result: .captureResult, providerKey: providerKey, actor: actor)
      return .with { $0.payment = Self.message(captured, refunds: []) }
    }
  }

  public func voidPayment(request: CommerceV1.VoidPaymentRequest, context: ServerContext) async throws -> CommerceV1.VoidPaymentResponse {
    guard request.reason.count <= 500 else { throw CommerceError.invalidArgument(field: "reason", "must be at most 500 characters") }
    let caller = try context.principal()
    let id = try Self.paymentID(request.paymentId)
    let actor = caller.description
    // VoidPayment carries no idempotency key; a payment is voided at most once.
    let providerKey = "VoidPayment:" + id.lowercasedString
    let reason = request.reason.isEmpty ? nil : request.reason
    // 1. Check and record the request.
    let payment = try await store.pool.withTransaction { tx in
      guard let payment = try await store.lockPayment(id, in: tx) else { throw CommerceError.notFound("payment", request.paymentId) }
      if payment.state == .voided { return payment }
      guard payment.state == .authorized else { throw CommerceError.invalidTransition(from: payment.state.rawValue, to: "VOIDED") }
      try await store.appendLedger(
        LedgerEvent(kind: .voidRequested, providerKey: providerKey, statusBefore: payment.state.rawValue, actor: actor, detail: reason),
        payment: id, now: now(), in: tx)
      return payment
    }
    if payment.state == .voided {
      let refunds = try await refunds(of: payment)
      return .with { $0.payment = Self.message(payment, refunds: refunds) }
    }
    guard let providerPaymentID = payment.providerPaymentID else { throw PaymentStore.StoreError.corruptRow }

    // 2. The provider.
    do {
      _ = try await callProvider { try await provider.void(ProviderVoid(idempotencyKey: providerKey, providerPaymentID: providerPaymentID)) }
    } catch let error as ProviderError {
      throw try await providerFailure(error, payment: id, providerKey: providerKey, requested: "VOIDED", actor: actor)
    }

    // 3. The answer.
    let voided = try await settleAuthorization(id, to: .voided, capturing: nil, result: .voidResult, providerKey: providerKey, actor: actor)
    return .with { $0.payment = Self.message(voided, refunds: []) }
  }

  /// Records the provider's acceptance of a capture or a void, in one transaction: an
  /// AUTHORIZED payment moves to `state` (CAPTURED with the `capturing` amount, or VOIDED), its
  /// hold ends and the change is published; a payment a provider event already moved is left
  /// as it is. The result goes to the ledger either way.
  private func settleAuthorization(
    _ id: UUID, to state: PaymentState, capturing amount: Money?, result: LedgerEvent.Kind, providerKey: String, actor: String
  ) async throws -> PaymentRecord {
    try await store.pool.withTransaction { tx in
      let now = now()
      guard var payment = try await store.lockPayment(id, in: tx) else { throw PaymentStore.StoreError.corruptRow }
      let before = payment.state
      if payment.state == .authorized {
        payment.state = state
        if let amount { payment.capturedMinor = amount.amountMinor }
        payment.authorizationExpiresAt = nil
        payment = try await store.updatePayment(payment, now: now, in: tx)
        try await store.publishStatus(payment, amount: amount ?? payment.amount, in: tx)
      }
      try await store.appendLedger(
        LedgerEvent(
          kind: result, providerKey: providerKey, outcome: state.rawValue, amount: amount, statusBefore: before.rawValue,
          statusAfter: payment.state.rawValue, actor: actor), payment: id, now: now, in: tx)
      return payment
    }
  }

  // MARK: Refund

  public func refundPayment(request: CommerceV1.RefundPaymentRequest, context: ServerContext) async throws
    -> CommerceV1.RefundPaymentResponse
  {
    var violations = FieldViolations()
    violations.check(!request.paymentId.isEmpty, "payment_id", "is required")
    let requested = Self.positiveAmount(request.amount, field: "amount", required: false, into: &violations)
    switch request.reason {
    case .unspecified, .unrecognized: violations.add("reason", "must be a RefundReason other than UNSPECIFIED")
    default: break
    }
    violations.check(request.returnId.count <= 64, "return_id", "must be at most 64 characters")
    violations.check(request.note.count <= 1000, "note", "must be at most 1000 characters")
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.PaymentService.RefundPayment.descriptor, key: request.idempotencyKey, request: request)
    let id = try Self.paymentID(request.paymentId)
    let actor = caller.description
    return try await idempotency.run(call) {
      let providerKey = "RefundPayment:" + request.idempotencyKey
      // 1. Check and record the request: a PENDING refund that already counts as refunded.
      let step = try await store.pool.withTransaction { tx -> (payment: PaymentRecord, refund: RefundRecord) in
        let now = now()
        guard var payment = try await store.lockPayment(id, in: tx) else { throw CommerceError.notFound("payment", request.paymentId) }
        if let earlier = try await store.refund(scope: call.scope, key: request.idempotencyKey, in: tx) {
          guard earlier.paymentID == id else {
            throw CommerceError.invalidArgument(field: "idempotency_key", "was used with a different request", reason: .idempotencyKeyReused)
          }
          return (payment, earlier)
        }
        guard payment.state == .captured || payment.state == .partiallyRefunded else {
          throw CommerceError.invalidTransition(from: payment.state.rawValue, to: "REFUNDED")
        }
        let remaining = payment.capturedMinor - payment.refundedMinor
        let amount = requested ?? Money(amountMinor: remaining, currency: payment.amount.currency)
        try Self.checkCurrency(amount, of: payment)
        guard amount.amountMinor > 0, amount.amountMinor <= remaining else {
          throw Self.exceedsRemaining(Money(amountMinor: remaining, currency: payment.amount.currency))
        }
        let refund = try await store.insertRefund(
          RefundRecord(
            id: UUID(), paymentID: id, requestScope: call.scope, requestKey: request.idempotencyKey, amount: amount, state: .pending,
            reason: request.reason, returnID: request.returnId, note: request.note, providerRefundID: nil, needsReview: false,
            createdAt: now, updatedAt: now), in: tx)
        payment.refundedMinor += amount.amountMinor
        payment = try await store.updatePayment(payment, now: now, in: tx)
        try await store.appendLedger(
          LedgerEvent(
            kind: .refundRequested, refundID: refund.id, providerKey: providerKey, amount: amount, statusBefore: payment.state.rawValue,
            actor: actor), payment: id, now: now, in: tx)
        return (payment, refund)
      }
      if step.refund.state != .pending || step.refund.providerRefundID != nil {
        return try await refundResponse(step.payment, step.refund)
      }
      guard let providerPaymentID = step.payment.providerPaymentID else { throw PaymentStore.StoreError.corruptRow }

      // 2. The provider.
      let result: ProviderRefundResult
      do {
        result = try await callProvider {
          try await provider.refund(ProviderRefund(idempotencyKey: providerKey, providerPaymentID: providerPaymentID, amount: step.refund.amount))
        }
      } catch ProviderError.rejected(let message) {
        result = ProviderRefundResult(providerRefundID: "", outcome: .failed, message: message)
      } catch let error as ProviderError {
        throw try await providerFailure(error, payment: id, providerKey: providerKey, requested: "REFUNDED", actor: actor)
      }

      // 3. The answer.
      let (payment, refund) = try await recordRefundResult(result, refund: step.refund.id, of: id, providerKey: providerKey, actor: actor)
      return try await refundResponse(payment, refund)
    }
  }


  /// Records the provider's answer to a PENDING refund, unless an earlier answer was recorded:
  /// SUCCEEDED moves the payment to PARTIALLY_REFUNDED or REFUNDED, FAILED gives the amount back
  /// to what may be refunded and flags refund and payment for review, PENDING waits for the
  /// provider's event. One transaction, with the ledger entry and the published status.
  private func recordRefundResult(
    _ result: ProviderRefundResult, refund refundID: UUID, of id: UUID, providerKey: String, actor: String
  ) async throws -> (PaymentRecord, RefundRecord) {
    try await store.pool.withTransaction { tx in
      let now = now()
      guard var payment = try await store.lockPayment(id, in: tx),
        var refund = try await store.refunds(of: id, in: tx).first(where: { $0.id == refundID })
      else { throw PaymentStore.StoreError.corruptRow }
      guard refund.state == .pending, refund.providerRefundID == nil else { return (payment, refund) }
      let before = payment.state
      if !result.providerRefundID.isEmpty { refund.providerRefundID = result.providerRefundID }
      switch result.outcome {
      case .succeeded:
        refund.state = .succeeded
      case .failed:
        refund.state = .failed
        refund.needsReview = true
        payment.refundedMinor -= refund.amount.amountMinor
        payment.needsReview = true
      case .pending:
        break
      }
      refund = try await store.updateRefund(refund, now: now, in: tx)
      if refund.state == .succeeded {
        payment.state = ProviderEventRule.stateAfterRefunds(
          captured: payment.capturedMinor, succeeded: try await succeededRefunds(of: id, in: tx))
      }
      payment = try await store.updatePayment(payment, now: now, in: tx)
      try await store.appendLedger(
        LedgerEvent(
          kind: .refundResult, refundID: refund.id, providerKey: providerKey, outcome: refund.state.rawValue, amount: refund.amount,
          statusBefore: before.rawValue, statusAfter: payment.state.rawValue, flagged: refund.state == .failed, actor: actor,
          detail: result.message.isEmpty ? nil : result.message), payment: id, now: now, in: tx)
      if refund.state == .succeeded { try await store.publishStatus(payment, amount: refund.amount, in: tx) }
      return (payment, refund)
    }
  }

  private func refundResponse(_ payment: PaymentRecord, _ refund: RefundRecord) async throws -> CommerceV1.RefundPaymentResponse {
    let refunds = try await refunds(of: payment)
    return .with {
      $0.payment = Self.message(payment, refunds: refunds)
      $0.refund = Self.message(refund)
    }
  }

  private func succeededRefunds(of payment: UUID, in tx: PostgresTransaction) async throws -> Int64 {
    try await store.refunds(of: payment, in: tx).filter { $0.state == .succeeded }.reduce(0) { $0 + $1.amount.amountMinor }
  }

  // MARK: Reads

  public func getPayment(request: CommerceV1.GetPaymentRequest, context: ServerContext) async throws -> CommerceV1.GetPaymentResponse {
    guard !request.paymentId.isEmpty else { throw CommerceError.invalidArgument(field: "payment_id", "is required") }
    let id = try Self.paymentID(request.paymentId)
    guard let payment = try await store.payment(id) else { throw CommerceError.notFound("payment", request.paymentId) }
    try context.requireOwner(payment.customerID, or: .notFound("payment", request.paymentId))
    let refunds = try await refunds(of: payment)
    return .with { $0.payment = Self.message(payment, refunds: refunds) }
  }

  public func listPayments(request: CommerceV1.ListPaymentsRequest, context: ServerContext) async throws
    -> CommerceV1.ListPaymentsResponse
  {
    guard (1...64).contains(request.orderId.count) else {
      throw CommerceError.invalidArgument(field: "order_id", "must be 1 to 64 characters")
    }
    let size = try PageToken.pageSize(request.pageSize, default: 20, maximum: 100)
    let binding = PageToken.binding("ListPayments", [request.orderId])
    var after: Int64?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 1) {
      guard let seq = Int64(position[0]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      after = seq
    }
    // The order's owner is the customer its payments name.
    for customer in try await store.customers(ofOrder: request.orderId) {
      try context.requireOwner(customer, or: .notFound("order", request.orderId))
    }
    let page = try await store.paymentPage(orderID: request.orderId, afterSeq: after, limit: size + 1)
    let payments = Array(page.prefix(size))
    let refunds = try await store.refunds(of: payments.map(\.id))
    return .with {
      $0.payments = payments.map { Self.message($0, refunds: refunds[$0.id] ?? []) }
      if page.count > size, let last = payments.last {
        $0.nextPageToken = PageToken.make([String(last.seq)], binding: binding)
      }
    }
  }

  // MARK: Provider events

  public func reportProviderEvent(request: CommerceV1.ReportProviderEventRequest, context: ServerContext) async throws
    -> CommerceV1.ReportProviderEventResponse
  {
    try webhook.authenticate(request, metadata: context.metadata, required: configuration.requireSignedEvents)
    return try await applyProviderEvent(request, actor: try context.principal().description)
  }

  // MARK: Statistics

  public func getPaymentStats(request: CommerceV1.GetPaymentStatsRequest, context: ServerContext) async throws
    -> CommerceV1.GetPaymentStatsResponse
  {
    let window = try StatsWindow(request.window)
    async let refunds = store.succeededRefunds(from: window.start, to: window.end)
    async let declines = store.declines(from: window.start, to: window.end)
    let (refunded, declined) = try await (refunds, declines)
    return .with {
      $0.refunds = refunded.map(\.proto)
      $0.paymentDeclines = declined
    }
  }

  /// Applies one provider event at most once (ReportProviderEvent, and the webhook).
  func applyProviderEvent(_ request: CommerceV1.ReportProviderEventRequest, actor: String) async throws
    -> CommerceV1.ReportProviderEventResponse
  {
    var violations = FieldViolations()
    violations.check(request.providerId == provider.id, "provider_id", "is not the configured payment provider")
    violations.check((1...255).contains(request.providerEventId.utf8.count), "provider_event_id", "must be 1 to 255 characters")
    let refundEvent = request.kind == .refundSucceeded || request.kind == .refundFailed
    switch request.kind {
    case .unspecified, .unrecognized: violations.add("kind", "must be a ProviderEventKind other than UNSPECIFIED")
    default: break
    }
    if refundEvent {
      violations.check(!request.providerRefundId.isEmpty, "provider_refund_id", "is required for refund events")
    } else {
      violations.check(!request.providerPaymentId.isEmpty, "provider_payment_id", "is required")
    }
    try violations.throwIfAny()
    let kindName = ProtoName.short(CommerceV1.ProviderEventKind.protoValueNames[request.kind.rawValue], prefix: "PROVIDER_EVENT_KIND_")

    let (payment, duplicate) = try await store.pool.withTransaction { tx -> (PaymentRecord, Bool) in
      let now = now()
      var payment: PaymentRecord
      var refund: RefundRecord?
      if refundEvent {
        guard let found = try await store.refund(providerRefundID: request.providerRefundId, in: tx),
          let locked = try await store.lockPayment(found.paymentID, in: tx)
        else { throw CommerceError.notFound("refund", request.providerRefundId) }
        payment = locked
        // Read again under the payment's lock.
        refund = try await store.refunds(of: locked.id, in: tx).first { $0.id == found.id }
      } else {
        guard
          let locked = try await store.lockPayment(provider: request.providerId, providerPaymentID: request.providerPaymentId, in: tx)
        else { throw CommerceError.notFound("payment", request.providerPaymentId) }
        payment = locked
      }
      if try await store.providerEventRecorded(provider: request.providerId, eventID: request.providerEventId, in: tx) {
        return (payment, true)
      }
      let before = payment
      var outcome = "APPLIED"
      var flagged = false
      var orderEvent: CommerceV1.OrderEventKind?
      var statusAmount = payment.amount
      switch ProviderEventRule.effect(of: request.kind, on: payment.state, captureImmediately: payment.captureImmediately, refund: refund?.state) {
      case .move(let next):
        payment.state = next
        if !request.providerMessage.isEmpty { payment.providerMessage = request.providerMessage }
        switch next {
        case .authorized:
          payment.authorizationExpiresAt = now.addingTimeInterval(configuration.authorizationHold)
          orderEvent = .paymentAuthorized
        case .captured:
          var captured = payment.amount.amountMinor
          if let amount = request.amount, amount.currency == payment.amount.currency, (1...captured).contains(amount.amountMinor) {
            captured = amount.amountMinor
          }
          payment.capturedMinor = captured
          payment.authorizationExpiresAt = nil
          statusAmount = payment.captured
          if before.state == .pending { orderEvent = .paymentAuthorized }
        case .declined:
          payment.declineReason = request.declineReason == .unspecified ? .cardDeclined : request.declineReason
          orderEvent = .paymentFailed
        case .failed:
          orderEvent = .paymentFailed
        case .voided:
          payment.authorizationExpiresAt = nil
        case .pending, .partiallyRefunded, .refunded:
          break
        }
      case .settleRefund(let state):
        guard var settled = refund else { throw PaymentStore.StoreError.corruptRow }
        settled.state = state
        if state == .failed {
          settled.needsReview = true
          payment.refundedMinor -= settled.amount.amountMinor
          payment.needsReview = true
          flagged = true
        }
        refund = try await store.updateRefund(settled, now: now, in: tx)
        if state == .succeeded {
          payment.state = ProviderEventRule.stateAfterRefunds(
            captured: payment.capturedMinor, succeeded: try await succeededRefunds(of: payment.id, in: tx))
          statusAmount = settled.amount
        }
      case .late:
        outcome = "LATE"
      case .contradiction:
        outcome = "CONTRADICTION"
        flagged = true
        payment.needsReview = true
      case .review:
        outcome = "REVIEW"
        flagged = true
        payment.needsReview = true
      }
      // The ledger entry is also the event's deduplication record.
      let recorded = try await store.appendLedger(
        LedgerEvent(
          kind: .providerEvent, refundID: refund?.id, providerID: request.providerId, providerEventID: request.providerEventId,
          providerEventKind: kindName, outcome: outcome, amount: request.amount.map { Money(amountMinor: $0.amountMinor, currency: $0.currency) },
          statusBefore: before.state.rawValue, statusAfter: payment.state.rawValue, flagged: flagged, actor: actor,
          detail: request.providerMessage.isEmpty ? nil : request.providerMessage), payment: payment.id, now: now, in: tx)
      guard recorded else { return (before, true) }
      if payment != before { payment = try await store.updatePayment(payment, now: now, in: tx) }
      if payment.state != before.state || (refund?.state == .succeeded && outcome == "APPLIED") {
        try await store.publishStatus(payment, amount: statusAmount, in: tx)
      }
      if let orderEvent { try await store.publishOrderEvent(payment, kind: orderEvent, at: now, in: tx) }
      if flagged {
        logger.warning(
          "provider event flagged for review",
          metadata: ["paymentId": "\(payment.id.lowercasedString)", "event": "\(request.providerEventId)", "kind": "\(kindName)"])
      }
      return (payment, false)
    }
    let refunds = try await refunds(of: payment)
    return .with {
      $0.payment = Self.message(payment, refunds: refunds)
      $0.duplicate = duplicate
    }
  }

  // MARK: Helpers

  /// Runs a provider request, giving up after ``Configuration/providerTimeout`` (the request is
  /// cancelled and its outcome is unknown: ``ProviderError/unavailable(_:)``).
  private func callProvider<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    let timeout = configuration.providerTimeout
    return try await withThrowingTaskGroup(of: Result?.self) { group in
      group.addTask { try await body() }
      group.addTask {
        try await Task.sleep(for: timeout)
        return nil
      }
      defer { group.cancelAll() }
      if case let result?? = try await group.next() { return result }
      throw ProviderError.unavailable("no answer within \(timeout)")
    }
  }

  /// Records that the provider could not be reached and returns the error for the caller.
  private func providerUnavailable(_ id: UUID, providerKey: String, why: String, actor: String) async throws -> CommerceError {
    _ = try await store.pool.withTransaction { tx in
      try await store.appendLedger(
        LedgerEvent(kind: .providerUnavailable, providerKey: providerKey, outcome: "UNKNOWN", actor: actor, detail: why),
        payment: id, now: now(), in: tx)
    }
    logger.warning("payment provider unavailable", metadata: ["paymentId": "\(id.lowercasedString)", "error": "\(why)"])
    return CommerceError(
      .unavailable, .paymentProviderUnavailable,
      "the payment provider could not be reached; the outcome is unknown: retry with the same idempotency key",
      retryAfter: configuration.retryAfter)
  }

  /// The error for a capture or void the provider did not perform.
  private func providerFailure(_ error: ProviderError, payment id: UUID, providerKey: String, requested: String, actor: String) async throws
    -> CommerceError
  {
    switch error {
    case .unavailable(let why):
      return try await providerUnavailable(id, providerKey: providerKey, why: why, actor: actor)
    case .invalidRequest(let field, let message):
      return .invalidArgument(field: field, message)
    case .rejected(let message):
      let current = try await store.pool.withTransaction { tx in
        try await store.appendLedger(
          LedgerEvent(kind: .providerRejected, providerKey: providerKey, outcome: "REJECTED", actor: actor, detail: message),
          payment: id, now: now(), in: tx)
        return try await store.lockPayment(id, in: tx)?.state.rawValue ?? "UNKNOWN"
      }
      return .invalidTransition(from: current, to: requested)
    }
  }

  /// Whether the ledger holds a result of `kind` for the forwarded key (an earlier attempt of
  /// the same call finished).
  private func hasResult(_ kind: LedgerEvent.Kind, payment: UUID, providerKey: String, in tx: PostgresTransaction) async throws -> Bool {
    try await store.ledgerHasResult(kind.rawValue, payment: payment, providerKey: providerKey, in: tx)
  }

  private func refunds(of payment: PaymentRecord) async throws -> [RefundRecord] {
    try await store.refunds(of: [payment.id])[payment.id] ?? []
  }

  static func paymentID(_ text: String) throws(CommerceError) -> UUID {
    guard !text.isEmpty else { throw .invalidArgument(field: "payment_id", "is required") }
    guard let id = UUID(id: text) else { throw .notFound("payment", text) }
    return id
  }

  /// A request's amount, checked: a currency code and at least one minor unit.
  static func positiveAmount(_ money: CommerceV1.Money?, field: String, required: Bool, into violations: inout FieldViolations) -> Money? {
    guard let money else {
      if required { violations.add(field, "is required") }
      return nil
    }
    guard let amount = Money.validated(money, field: field, into: &violations) else { return nil }
    guard amount.amountMinor >= 1 else {
      violations.add(field + ".amount_minor", "must be at least 1")
      return nil
    }
    return amount
  }

  static func checkCurrency(_ amount: Money, of payment: PaymentRecord) throws(CommerceError) {
    guard amount.currency == payment.amount.currency else {
      throw CommerceError(
        .invalidArgument, .currencyMismatch, "the payment is in \(payment.amount.currency), not \(amount.currency)",
        metadata: ["expected": payment.amount.currency, "actual": amount.currency])
    }
  }

  static func exceedsRemaining(_ remaining: Money) -> CommerceError {
    CommerceError(
      .failedPrecondition, .amountExceedsRemaining, "the amount exceeds the \(remaining.amountMinor) minor units that remain",
      metadata: ["remainingMinor": String(remaining.amountMinor), "currency": remaining.currency])
  }

  // MARK: Messages

  static func message(_ payment: PaymentRecord, refunds: [RefundRecord]) -> CommerceV1.Payment {
    .with {
      $0.paymentId = payment.id.lowercasedString
      $0.orderId = payment.orderID
      $0.customerId = payment.customerID
      $0.amount = payment.amount.proto
      $0.capturedAmount = payment.captured.proto
      $0.refundedAmount = payment.refunded.proto
      $0.status = payment.state.proto
      $0.declineReason = payment.state == .declined ? (payment.declineReason ?? .cardDeclined) : .unspecified
      $0.providerMessage = payment.providerMessage
      $0.method = payment.card.proto
      $0.providerId = payment.providerID
      $0.providerPaymentId = payment.providerPaymentID ?? ""
      $0.refunds = refunds.map(message)
      $0.createTime = .init(payment.createdAt)
      $0.updateTime = .init(payment.updatedAt)
      if payment.state == .authorized, let expires = payment.authorizationExpiresAt { $0.authorizationExpireTime = .init(expires) }
      $0.version = payment.version
    }
  }

  static func message(_ refund: RefundRecord) -> CommerceV1.Refund {
    .with {
      $0.refundId = refund.id.lowercasedString
      $0.paymentId = refund.paymentID.lowercasedString
      $0.amount = refund.amount.proto
      $0.status = refund.state.proto
      $0.reason = refund.reason
      $0.returnId = refund.returnID
      $0.note = refund.note
      $0.providerRefundId = refund.providerRefundID ?? ""
      $0.createTime = .init(refund.createdAt)
      $0.updateTime = .init(refund.updatedAt)
    }
  }
}
