public import CommerceAPI
public import CommerceKit
import Crypto
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle
import Synchronization

/// OrderService (orders.proto): checkout as an idempotent saga, the order state machine,
/// cancellation, history and a live status stream.
///
/// Handlers translate between the contract's messages and the domain; the saga is
/// ``CheckoutSaga``, the state machine and pricing are pure (``OrderTransitions``, ``Pricing``),
/// and all SQL is in `OrderStore`. Peers (catalog, cart, inventory, payments) are reached only
/// through their generated clients, never inside a transaction. Access rules are enforced by
/// CommerceKit's `AuthInterceptor`; handlers decide who may see or change which order.
///
/// Decisions the contract leaves to the server (docs/ORDERS.md has the whole picture):
/// - Checkout's idempotency scope is the customer: one order per (customer, key), held by a
///   unique key in the schema. A retry answers from that order's current outcome.
/// - The saga runs in a detached task: a caller's deadline or cancellation never stops it.
/// - Payment methods are kept in memory only while this process runs the saga; a saga resumed
///   elsewhere asks PaymentService what became of the payment.
/// - A seller sees, in GetOrder, ListOrders and WatchOrder, only its own lines of an order.
/// - CancelOrder: a seller may cancel only orders whose every line is its own; restocking a
///   committed reservation puts the units back where they were taken (GetReservation's
///   allocations, AdjustStock ORDER_CANCELLED). the order's shipments the carrier has not picked
///   up are cancelled first (ShippingService.CancelShipment), when the service was given
///   ShippingService.
/// - ApplyOrderEvent: a payment event the order already reflects (PAYMENT_AUTHORIZED for an order
///   confirmed meanwhile by the recovery worker, PAYMENT_FAILED for a FAILED or CANCELLED order) is
///   recorded and answers OK; a payment authorized after its order was cancelled is voided then; a REFUND_ISSUED event needs `amount`. Each kind is accepted from the
///   service that owns it (shipments from "shipping", returns from "support", payment results
///   from "payments", refunds from "support" or "payments"); another service gets
///   PERMISSION_DENIED.
public struct OrderService: CommerceV1.OrderService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// How long checkout's stock reservation lasts (and each extension while a payment is
    /// pending). InventoryService accepts 1 minute to 1 hour by default.
    public var reservationTTL: Duration = .seconds(15 * 60)
    /// How long a saga may wait for its payment before it gives up and compensates.
    public var paymentTimeout: TimeInterval = 30 * 60
    /// How long a saga's owner holds it between steps; past it the recovery worker takes over.
    public var sagaLease: TimeInterval = 60
    /// How often the recovery worker looks for sagas nobody runs.
    public var recoveryInterval: Duration = .seconds(5)
    /// The timeout of each call the saga makes to a peer.
    public var peerCallTimeout: Duration = .seconds(10)
    /// How often the recovery worker asks PaymentService about a payment a saga waits for.
    public var paymentCheckInterval: TimeInterval = 30
    /// How long a retry without a deadline waits for a running saga.
    public var replayWait: Duration = .seconds(10)

    public init() {}
  }

  /// Until when a call that waits for a running saga (a retry, a payment event, a
  /// cancellation) waits: two thirds of the time left before its deadline, so that its answer
  /// (ABORTED with RetryInfo) arrives before the deadline does even on a loaded server; without a
  /// deadline, ``Configuration/replayWait``.
  func waitLimit() -> ContinuousClock.Instant {
    let now = ContinuousClock.now
    guard let deadline = RPCDeadline.current else { return now + configuration.replayWait }
    return now + (deadline - now) * 2 / 3
  }

  let store: OrderStore
  let saga: CheckoutSaga
  let catalog: CommerceV1.CatalogService.Client
  let cart: CommerceV1.CartService.Client
  let inventory: CommerceV1.InventoryService.Client
  let payments: CommerceV1.PaymentService.Client
  /// ShippingService, whose shipments not yet handed over CancelOrder cancels; nil when the
  /// process is made without it (then there are none to cancel).
  let shipping: CommerceV1.ShippingService.Client?
  let configuration: Configuration
  let logger: Logger
  let now: @Sendable () -> Date
  /// Ends WatchOrder streams when the server drains.
  let watchDrain = StreamDrain()
  /// NotificationService, for the relay of status changes to customers; nil runs no relay.
  let notifications: (any ClientTransport)?
  /// The process's read replica, which ListOrders reads from; nil reads everything from the
  /// primary.
  let replica: ReadReplica?

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `orders` only (migrated beforehand).
  ///   - catalog, cart, inventory, payments: the peers' transports, carrying the identity
  ///     "orders".
  public init(
    pool: PostgresPool, catalog: any ClientTransport, cart: any ClientTransport, inventory: any ClientTransport,
    payments: any ClientTransport, notifications: (any ClientTransport)? = nil, shipping: (any ClientTransport)? = nil,
    configuration: Configuration = .init(),
    logger: Logger = Logger(label: "emporium.orders"), now: @escaping @Sendable () -> Date = Date.init,
    replica: ReadReplica? = nil
  ) {
    let store = OrderStore(pool: pool)
    self.store = store
    self.replica = replica
    self.notifications = notifications
    self.catalog = CommerceV1.CatalogService.Client(catalog)
    self.cart = CommerceV1.CartService.Client(cart)
    self.inventory = CommerceV1.InventoryService.Client(inventory)
    self.payments = CommerceV1.PaymentService.Client(payments)
    self.shipping = shipping.map { CommerceV1.ShippingService.Client($0) }
    self.configuration = configuration
    self.logger = logger
    self.now = now
    self.saga = CheckoutSaga(
      store: store, inventory: self.inventory, payments: self.payments, cart: self.cart, configuration: configuration,
      owner: UUID(), methods: PaymentMethodVault(), logger: logger, now: now)
  }

  /// The background work the process runs beside the handlers: the saga recovery worker, the
  /// relay of confirmed orders to the catalog, the end of WatchOrder streams at graceful
  /// shutdown, and the outbox's retention (``Outbox/retention(pool:keep:every:logger:now:)``).
  public var backgroundServices: [any ServiceLifecycle.Service] {
    var services: [any ServiceLifecycle.Service] = [
      SagaRecovery(service: self), PurchaseRelay(service: self), StreamDrain.OnShutdown(watchDrain),
      store.outbox.retention(pool: store.pool, logger: logger),
    ]
    if let notifications {
      services.append(NotificationRelay(outbox: store.outbox, pool: store.pool, notifications: notifications, logger: logger))
    }
    return services
  }

  // MARK: Checkout

  public func checkout(request: CommerceV1.CheckoutRequest, context: ServerContext) async throws -> CommerceV1.CheckoutResponse {
    try await markingCaller { try await placeOrder(request: request, context: context) }
  }

  public func cancelOrder(request: CommerceV1.CancelOrderRequest, context: ServerContext) async throws -> CommerceV1.CancelOrderResponse {
    try await markingCaller { try await cancel(request: request, context: context) }
  }

  public func applyOrderEvent(request: CommerceV1.ApplyOrderEventRequest, context: ServerContext) async throws
    -> CommerceV1.ApplyOrderEventResponse
  {
    try await markingCaller { try await apply(request: request, context: context) }
  }

  /// Runs a write RPC's body; with a read replica, its caller (the end user) then reads the
  /// primary until the replica has replayed the write (docs/DATABASE.md, "Read replicas").
  private func markingCaller<T>(_ body: () async throws -> T) async throws -> T {
    guard let replica else { return try await body() }
    return try await replica.write(by: CallAuth.current?.principal, body)
  }

  func placeOrder(request: CommerceV1.CheckoutRequest, context: ServerContext) async throws -> CommerceV1.CheckoutResponse {
    let caller = try context.principal()
    guard caller.kind == .user else { throw CommerceError.permissionDenied("checkout needs a customer's access token") }
    try Self.validate(request)
    let hash = Array(SHA256.hash(data: (try? request.serializedBytes()) ?? []))
    if let existing = try await store.order(customerID: caller.subject, checkoutKey: request.idempotencyKey) {
      return try await replay(existing, hash: hash)
    }

    // 1. The lines, priced by the catalog.
    var wanted: [(productID: String, quantity: Int32)] = []
    var fromCart = false
    switch request.itemsSource {
    case .cart(let source)?:
      fromCart = true
      let cart = try await self.cart.getCart(.init()).cart ?? .init()
      if source.expectedCartVersion != 0, source.expectedCartVersion != cart.version {
        throw CommerceError.versionMismatch(current: cart.version)
      }
      wanted = cart.items.filter(\.available).map { ($0.productId, $0.quantity) }
      guard !wanted.isEmpty else { throw CommerceError(.failedPrecondition, .cartEmpty, "the cart has no line that can be bought") }
    case .lines(let lines)?:
      wanted = lines.lines.map { ($0.productId, $0.quantity) }
    case nil:
      throw CommerceError.invalidArgument(field: "items_source", "set cart or lines")
    }
    let response = try await catalog.batchGetProducts(.with { $0.productIds = wanted.map(\.productID) })
    if let missing = wanted.first(where: { line in !response.products.contains { $0.productId == line.productID } }) {
      throw CommerceError.notFound("product", missing.productID)
    }
    let products = Dictionary(response.products.map { ($0.productId, $0) }, uniquingKeysWith: { a, _ in a })
    var lines: [OrderLineRecord] = []
    var currency: String?
    for (index, line) in wanted.enumerated() {
      guard let product = products[line.productID] else { throw CommerceError.notFound("product", line.productID) }
      guard product.status == .active else {
        throw CommerceError(
          .failedPrecondition, .productNotPurchasable, "product '\(line.productID)' is not purchasable (draft or archived)",
          metadata: ["productId": line.productID])
      }
      let price = product.price ?? .init()
      if let currency, currency != price.currency {
        throw CommerceError(
          .invalidArgument, .currencyMismatch, "the lines are priced in more than one currency",
          metadata: ["expected": currency, "actual": price.currency])
      }
      currency = price.currency
      let total = price.amountMinor * Int64(line.quantity)
      lines.append(
        OrderLineRecord(
          index: Int32(index), id: UUID(), productID: line.productID, sellerID: product.sellerId, title: product.title,
          imageURL: product.imageUrls.first ?? "", unitPrice: price.amountMinor, quantity: line.quantity, tax: Pricing.tax(total)))
    }
    let orderCurrency = currency ?? "USD"
    let speed: CommerceV1.ShippingSpeed = request.shippingSpeed == .unspecified ? .standard : request.shippingSpeed
    let subtotal = lines.reduce(0) { $0 + $1.lineTotal }
    let shipping = Pricing.shipping(speed, subtotal: subtotal)
    let tax = lines.reduce(0) { $0 + $1.tax } + Pricing.tax(shipping)
    let total = subtotal + shipping + tax
    if let expected = request.expectedTotal, expected.amountMinor != total || expected.currency != orderCurrency {
      throw CommerceError(
        .failedPrecondition, .priceChanged, "the order total is \(total) \(orderCurrency) minor units, not \(expected.amountMinor) \(expected.currency)",
        metadata: ["expectedMinor": String(expected.amountMinor), "actualMinor": String(total), "currency": orderCurrency])
    }

    // 2. The order, PENDING, with this process holding its saga.
    let now = now()
    let order = OrderRecord(
      id: UUID(), customerID: caller.subject, checkoutKey: request.idempotencyKey, requestHash: hash, status: .pending, version: 1,
      currency: orderCurrency, subtotal: subtotal, shipping: shipping, tax: tax, total: total, shippingSpeed: speed,
      shippingAddress: request.shippingAddress ?? .init(), billingAddress: request.billingAddress ?? request.shippingAddress ?? .init(),
      createdAt: now, updatedAt: now, sagaState: .running, sagaOwner: saga.owner,
      sagaLeaseUntil: now.addingTimeInterval(configuration.sagaLease), sagaDeadline: now.addingTimeInterval(configuration.paymentTimeout),
      fromCart: fromCart, lines: lines, history: [HistoryEntry(status: .pending, at: now, note: "checkout started")])
    if let method = request.paymentMethod { saga.methods.set(method, for: order.id) }
    guard try await store.insertOrder(order) else {
      // A concurrent call with the same key created the order first.
      saga.methods.remove(order.id)
      guard let existing = try await store.order(customerID: caller.subject, checkoutKey: request.idempotencyKey) else {
        throw CommerceError(.aborted, .idempotencyKeyInFlight, "the first call with this idempotency key is still running", retryAfter: .milliseconds(500))
      }
      return try await replay(existing, hash: hash)
    }

    // 3-4. The saga, detached from this call: the caller's deadline or cancellation never stops
    // it halfway; a retry with the same key answers from its outcome. It starts from the order
    // as inserted (every step reads the stored order again, under its lock).
    let saga = self.saga
    let outcome = await Task.detached { await saga.run(order) }.value
    return try answer(outcome) ?? {
      throw CommerceError(
        .unavailable, nil, "checkout continues in the background; retry with the same idempotency_key", retryAfter: .seconds(1))
    }()
  }

  /// What Checkout answers for an order: the response, the order's failure, or nil while its
  /// saga is still running.
  func answer(_ order: OrderRecord) throws -> CommerceV1.CheckoutResponse? {
    if order.status == .failed, let failure = order.failureError {
      let details = failure.details.flatMap { try? RpcV1.ErrorDetails(serializedBytes: $0) }
      throw RPCError(code: RPCStatusCode(rawValue: UInt8(clamping: failure.code)) ?? .failedPrecondition, message: failure.message, details: details)
    }
    let settled = order.sagaState == .done || (order.status == .awaitingPayment && order.sagaState == .waiting)
    guard settled else { return nil }
    return .with { $0.order = OrderMessages.order(order, view: .full) }
  }

  /// A retry of a checkout whose key has an order: its outcome, after waiting for a running saga
  /// within the retry's deadline; ABORTED (IDEMPOTENCY_KEY_IN_FLIGHT) when it is still running.
  private func replay(_ existing: OrderRecord, hash: [UInt8]) async throws -> CommerceV1.CheckoutResponse {
    guard existing.requestHash == hash else {
      throw CommerceError.invalidArgument(field: "idempotency_key", "was used with a different request", reason: .idempotencyKeyReused)
    }
    let waitUntil = waitLimit()
    var order = existing
    var pause = Duration.milliseconds(5)
    while true {
      if let response = try answer(order) { return response }
      guard ContinuousClock.now + pause < waitUntil else {
        throw CommerceError(
          .aborted, .idempotencyKeyInFlight, "the first call with this idempotency key is still running", retryAfter: .milliseconds(500))
      }
      try await Task.sleep(for: pause)
      pause = min(pause * 2, .milliseconds(200))
      guard let latest = try await store.order(order.id) else { throw OrderStore.StoreError.corruptRow }
      order = latest
    }
  }

  static func validate(_ request: CommerceV1.CheckoutRequest) throws(CommerceError) {
    var violations = FieldViolations()
    if case .lines(let lines)? = request.itemsSource {
      violations.check((1...100).contains(lines.lines.count), "lines.lines", "must hold 1 to 100 lines")
      var seen = Set<String>()
      for (index, line) in lines.lines.enumerated() {
        violations.check(!line.productId.isEmpty, "lines.lines[\(index)].product_id", "is required")
        violations.check((1...99).contains(line.quantity), "lines.lines[\(index)].quantity", "must be 1 to 99")
        violations.check(seen.insert(line.productId).inserted, "lines.lines[\(index)].product_id", "names a product of an earlier line")
      }
    } else if request.itemsSource == nil {
      violations.add("items_source", "set cart or lines")
    }
    validate(request.shippingAddress, "shipping_address", required: true, into: &violations)
    validate(request.billingAddress, "billing_address", required: false, into: &violations)
    switch request.paymentMethod?.method {
    case .cardToken(let token)?: violations.check(!token.isEmpty && token.count <= 200, "payment_method.card_token", "must be 1 to 200 characters")
    case .testCard(let card)?: violations.check(!card.number.isEmpty, "payment_method.test_card.number", "is required")
    case nil: violations.add("payment_method", "is required")
    }
    if let expected = request.expectedTotal {
      violations.check(expected.amountMinor >= 0 && Money.isCurrencyCode(expected.currency), "expected_total", "must be a valid amount")
    }
    if case .unrecognized? = Optional(request.shippingSpeed) { violations.add("shipping_speed", "is not a ShippingSpeed") }
    let key = request.idempotencyKey
    violations.check(
      (1...128).contains(key.utf8.count) && key.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "idempotency_key",
      "must be 1 to 128 printable ASCII characters")
    try violations.throwIfAny()
  }

  static func validate(_ address: CommerceV1.Address?, _ field: String, required: Bool, into violations: inout FieldViolations) {
    guard let address else {
      if required { violations.add(field, "is required") }
      return
    }
    violations.checkLength(address.recipientName, field + ".recipient_name", 1...200)
    violations.check(
      (1...3).contains(address.addressLines.count) && address.addressLines.allSatisfy { !$0.isEmpty && $0.count <= 200 },
      field + ".address_lines", "must be 1 to 3 lines of 1 to 200 characters")
    violations.checkLength(address.locality, field + ".locality", 1...200)
    violations.check(
      address.regionCode.utf8.count == 2 && address.regionCode.utf8.allSatisfy { (0x41...0x5A).contains($0) }, field + ".region_code",
      "must be an ISO 3166-1 alpha-2 code")
  }

  // MARK: Reading

  public func getOrder(request: CommerceV1.GetOrderRequest, context: ServerContext) async throws -> CommerceV1.GetOrderResponse {
    let order = try await visibleOrder(request.orderId)
    return .with { $0.order = OrderMessages.order(order.record, view: order.view) }
  }

  public func listOrders(request: CommerceV1.ListOrdersRequest, context: ServerContext) async throws -> CommerceV1.ListOrdersResponse {
    let size = try PageToken.pageSize(request.pageSize, default: 20, maximum: 100)
    let caller = try context.principal()
    var customer: String? = request.customerId.isEmpty ? nil : request.customerId
    var seller: String? = request.sellerId.isEmpty ? nil : request.sellerId
    var viewer: String?  // a non-admin user: sees full orders it placed, its own lines of others
    if caller.kind == .service {
      guard customer != nil || seller != nil else {
        throw CommerceError.invalidArgument(field: "customer_id", "services name the customer (or seller) whose orders to list")
      }
    } else if !caller.has(.admin) {
      if let named = customer, named != caller.subject {
        throw CommerceError.permissionDenied("only ADMIN users may list another customer's orders")
      }
      if let named = seller, named != caller.subject {
        throw CommerceError.permissionDenied("only ADMIN users may list another seller's orders")
      }
      if seller == nil, customer == nil, caller.has(.seller) {
        seller = caller.subject
      } else if seller == nil {
        customer = caller.subject
      }
      viewer = caller.subject
    }
    let statuses = request.statuses.filter { $0 != .unspecified }.map(\.storedName)
    let binding = PageToken.binding(
      "ListOrders",
      [
        customer ?? "", seller ?? "", statuses.joined(separator: ","), request.minCreateTime.map { "\($0.seconds).\($0.nanos)" } ?? "",
        request.maxCreateTime.map { "\($0.seconds).\($0.nanos)" } ?? "", caller.description,
      ])
    var after: (Int64, UUID)?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 2) {
      guard let micros = Int64(position[0]), let id = UUID(id: position[1]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      after = (micros, id)
    }
    // Lists tolerate the replica's lag, except for a caller's own writes (its read-your-writes
    // rule sends that caller to the primary until the replica has them).
    let source = await replica?.read(for: caller).pool ?? store.pool
    let page = try await store.page(
      customerID: customer, sellerID: seller, statuses: statuses, minCreate: request.minCreateTime?.date,
      maxCreate: request.maxCreateTime?.date, after: after, limit: size + 1, on: source)
    let orders = page.prefix(size)
    return .with {
      $0.orders = orders.map { order in
        let view: OrderMessages.View = viewer.map { order.customerID == $0 ? .full : .seller($0) } ?? .full
        return OrderMessages.order(order, view: view)
      }
      if page.count > size, let last = orders.last {
        $0.nextPageToken = PageToken.make([String(OrderStore.micros(last.createdAt)), last.id.lowercasedString], binding: binding)
      }
    }
  }

  public func watchOrder(
    request: CommerceV1.WatchOrderRequest, response: ResponseStreamWriter<CommerceV1.WatchOrderResponse>, context: ServerContext
  ) async throws {
    guard request.afterVersion >= 0 else { throw CommerceError.invalidArgument(field: "after_version", "must not be negative") }
    let first = try await visibleOrder(request.orderId)
    // Subscribe before reading, so no change between the read and the subscription is missed.
    let notifications = try await store.pool.notifications(channel: OrderStore.changeChannel)
    let drained = watchDrain.subscribe()
    let store = store
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for await _ in drained {}
        throw CommerceError(
          .unavailable, nil, "the server is shutting down; resume elsewhere with after_version", retryAfter: .milliseconds(100))
      }
      group.addTask {
        let id = first.record.id
        var lastVersion = request.afterVersion
        var lastStatus: CommerceV1.OrderStatus = .unspecified
        var sentAny = false
        /// Sends the order when it is newer than what the caller saw; returns whether it is final.
        func send(_ order: OrderRecord) async throws -> Bool {
          if order.version > lastVersion {
            try await response.write(.with {
              $0.order = OrderMessages.order(order, view: first.view)
              $0.previousStatus = sentAny ? lastStatus : .unspecified
            })
            sentAny = true
            lastVersion = order.version
          }
          lastStatus = order.status
          return order.status.isFinal
        }
        guard let current = try await store.order(id) else { throw CommerceError.notFound("order", request.orderId) }
        if try await send(current) { return }
        let idText = id.lowercasedString
        for await notification in notifications where notification.payload == idText {
          guard let latest = try await store.order(id) else { return }
          if try await send(latest) { return }
        }
      }
      // The first to end decides: the order reached a final status, or the server drains.
      try await group.next()
      group.cancelAll()
    }
  }

  /// The order `text` names and what of it the caller sees; NOT_FOUND for an unknown order or
  /// one the caller may not see.
  private func visibleOrder(_ text: String) async throws -> (record: OrderRecord, view: OrderMessages.View) {
    guard !text.isEmpty else { throw CommerceError.invalidArgument(field: "order_id", "is required") }
    guard let id = UUID(id: text), let order = try await store.order(id) else { throw CommerceError.notFound("order", text) }
    guard let view = Self.view(of: order) else { throw CommerceError.notFound("order", text) }
    return (order, view)
  }

  /// What of `order` the current caller sees: everything (its customer, a caller admitted by
  /// role or as a service), a seller's own lines, or nothing.
  static func view(of order: OrderRecord) -> OrderMessages.View? {
    guard let auth = CallAuth.current, let principal = auth.principal else { return nil }
    switch auth.admission {
    case .role, .service: return .full
    case .anonymous, .anyUser, .owner: break
    }
    if let user = principal.endUser, user.subject == order.customerID { return .full }
    if principal.kind == .user, principal.has(.seller), order.sellerIDs.contains(principal.subject) { return .seller(principal.subject) }
    return nil
  }

  // MARK: Cancelling

  func cancel(request: CommerceV1.CancelOrderRequest, context: ServerContext) async throws -> CommerceV1.CancelOrderResponse {
    var violations = FieldViolations()
    switch request.reason {
    case .unspecified, .unrecognized: violations.add("reason", "must be a CancelReason other than UNSPECIFIED")
    default: break
    }
    violations.check(request.reasonText.count <= 1000, "reason_text", "must be at most 1000 characters")
    if request.reason == .other { violations.check(!request.reasonText.isEmpty, "reason_text", "is required with CANCEL_REASON_OTHER") }
    try violations.throwIfAny()
    let caller = try context.principal()
    let (order, _) = try await visibleOrder(request.orderId)
    let role: CancelRole
    if CallAuth.current?.admission == .role {
      role = .admin
    } else if caller.endUser?.subject == order.customerID {
      role = .customer
    } else if order.sellerIDs == [caller.subject] {
      role = .seller
    } else {
      throw CommerceError.permissionDenied("a seller may cancel only orders whose every line is its own")
    }
    guard role.reasons.contains(request.reason) else {
      throw CommerceError.permissionDenied("this reason is not one a \(role) may give")
    }
    if order.status == .cancelled { return .with { $0.order = OrderMessages.order(order, view: .full) } }
    guard role.statuses.contains(order.status) else {
      throw CommerceError.invalidTransition(from: order.status.storedName, to: CommerceV1.OrderStatus.cancelled.storedName)
    }
    // A saga still running is taken over first, so no step of it runs beside the cancellation.
    if order.sagaState != .done { try await takeSaga(order.id) }
    guard let current = try await store.order(order.id) else { throw CommerceError.notFound("order", request.orderId) }
    if current.status == .cancelled { return .with { $0.order = OrderMessages.order(current, view: .full) } }
    guard role.statuses.contains(current.status) else {
      if current.sagaState != .done {
        _ = try? await store.change(current.id, now: now()) { o, _ in
          o.sagaState = .waiting
          o.sagaOwner = nil
          o.sagaLeaseUntil = nil
        }
      }
      throw CommerceError.invalidTransition(from: current.status.storedName, to: CommerceV1.OrderStatus.cancelled.storedName)
    }
    try await cancelShipments(of: current)
    let paymentStatus = try await undo(current)
    let cancelled = try await store.change(current.id, step: "cancelled", detail: "by \(caller.description)", now: now()) { o, _ in
      guard o.status != .cancelled else { return }
      try o.move(to: .cancelled, at: now(), note: "cancelled by \(role)")
      if let paymentStatus { o.paymentStatus = paymentStatus }
      o.cancelReason = request.reason
      o.cancelText = request.reasonText.isEmpty ? nil : request.reasonText
      o.cancelledBy = caller.endUser?.subject ?? caller.subject
      o.cancelledAt = now()
    }
    return .with { $0.order = OrderMessages.order(cancelled, view: .full) }
  }

  enum CancelRole: String, CustomStringConvertible {
    case customer, seller, admin

    var reasons: Set<CommerceV1.CancelReason> {
      switch self {
      case .customer: [.customerRequested]
      case .seller: [.customerRequested, .outOfStock, .sellerCannotFulfill]
      case .admin: [.customerRequested, .outOfStock, .sellerCannotFulfill, .fraudSuspected, .other]
      }
    }

    var statuses: Set<CommerceV1.OrderStatus> {
      switch self {
      case .customer: [.pending, .awaitingPayment, .confirmed]
      case .seller: [.confirmed, .packed]
      case .admin: [.pending, .awaitingPayment, .confirmed, .packed]
      }
    }

    var description: String { rawValue }
  }

  /// Cancels the order's shipments the carrier has not picked up (ShippingService.CancelShipment,
  /// as "orders"), so no parcel of a cancelled order leaves; one picked up meanwhile is left to
  /// the carrier (FAILED_PRECONDITION is not an error here).
  private func cancelShipments(of order: OrderRecord) async throws {
    guard let shipping else { return }
    let options = CallOptions(timeout: configuration.peerCallTimeout)
    let shipments = try await shipping.listShipments(.with { $0.orderId = order.id.lowercasedString }, options: options).shipments
    for shipment in shipments where shipment.status == .labelCreated {
      do {
        _ = try await shipping.cancelShipment(
          .with {
            $0.shipmentId = shipment.shipmentId
            $0.reason = "order cancelled"
          }, options: options)
      } catch let error as RPCError where error.code == .failedPrecondition {
        logger.info("shipment picked up before its order was cancelled", metadata: ["shipmentId": "\(shipment.shipmentId)"])
      }
    }
  }

  /// Gives back what the order holds: releases its reservation (or restocks committed units
  /// where they were taken), and voids (or refunds) its payment. Returns the payment's status
  /// afterwards, if it changed.
  private func undo(_ order: OrderRecord) async throws -> CommerceV1.PaymentStatus? {
    let options = CallOptions(timeout: configuration.peerCallTimeout)
    let key = order.id.lowercasedString
    if let reservation = order.reservationID {
      if order.reservationCommitted {
        let held = try await inventory.getReservation(.with { $0.reservationId = reservation }, options: options).reservation
        for (index, allocation) in (held?.allocations ?? []).enumerated() {
          _ = try await inventory.adjustStock(
            .with {
              $0.productId = allocation.productId
              $0.warehouseId = allocation.warehouseId
              $0.delta = allocation.quantity
              $0.reason = .orderCancelled
              $0.note = "order \(key) cancelled"
              $0.idempotencyKey = "\(key):restock:\(index)"
            }, options: options)
        }
      } else {
        _ = try await inventory.releaseReservation(
          .with {
            $0.reservationId = reservation
            $0.reason = "order cancelled"
          }, options: options)
      }
    }
    guard let paymentID = order.paymentID, !paymentID.isEmpty else { return nil }
    let payment = try await payments.getPayment(.with { $0.paymentId = paymentID }, options: options).payment
    switch payment?.status {
    case .pending?:
      // A payment still waiting for the provider cannot be voided yet; should it be authorized
      // later, its PAYMENT_AUTHORIZED event voids it (``paymentEvent``).
      return payment?.status
    case .authorized?:
      return try await payments.voidPayment(
        .with {
          $0.paymentId = paymentID
          $0.reason = "order cancelled"
        }, options: options
      ).payment?.status
    case .captured?, .partiallyRefunded?:
      return try await payments.refundPayment(
        .with {
          $0.paymentId = paymentID
          $0.reason = .orderCancelled
          $0.idempotencyKey = key + ":refund"
        }, options: options
      ).payment?.status
    default:
      return payment?.status
    }
  }

  /// Claims an unfinished order's saga for this process, waiting (within the call's deadline)
  /// while another step runs; ABORTED when it does not end in time.
  func takeSaga(_ id: UUID) async throws {
    let waitUntil = waitLimit()
    var pause = Duration.milliseconds(5)
    while true {
      let now = now()
      if try await store.claimSaga(id, owner: saga.owner, leaseUntil: now.addingTimeInterval(configuration.sagaLease), now: now, anyWaiting: true) {
        return
      }
      guard let order = try await store.order(id) else { throw CommerceError.notFound("order", id.lowercasedString) }
      // Done: nothing runs any more. Running (in this process too: the owner id is the process's,
      // not the call's): wait for the step to end.
      if order.sagaState == .done { return }
      guard ContinuousClock.now + pause < waitUntil else {
        throw CommerceError(.aborted, nil, "the order's checkout is still running a step; retry", retryAfter: .milliseconds(500))
      }
      try await Task.sleep(for: pause)
      pause = min(pause * 2, .milliseconds(200))
    }
  }

  /// Resumes the saga of an unfinished order nobody runs (the recovery worker's step); returns
  /// whether this process took it.
  func resume(_ id: UUID) async throws -> Bool {
    let now = now()
    guard
      try await store.claimSaga(id, owner: saga.owner, leaseUntil: now.addingTimeInterval(configuration.sagaLease), now: now, anyWaiting: false),
      let order = try await store.order(id)
    else { return false }
    _ = await saga.run(order)
    return true
  }

  // MARK: Events

  func apply(request: CommerceV1.ApplyOrderEventRequest, context: ServerContext) async throws
    -> CommerceV1.ApplyOrderEventResponse
  {
    var violations = FieldViolations()
    violations.check(!request.orderId.isEmpty, "order_id", "is required")
    violations.check((1...200).contains(request.eventId.count), "event_id", "must be 1 to 200 characters")
    switch request.kind {
    case .unspecified, .unrecognized: violations.add("kind", "must be an OrderEventKind other than UNSPECIFIED")
    default: break
    }
    for (index, line) in request.lines.enumerated() {
      violations.check(line.quantity >= 1, "lines[\(index)].quantity", "must be at least 1")
    }
    if request.kind == .refundIssued {
      violations.check(request.amount.map { $0.amountMinor >= 1 } ?? false, "amount", "is required for REFUND_ISSUED and must be positive")
    }
    try violations.throwIfAny()
    let reporter = try context.principal()
    guard OrderEvents.reporters(of: request.kind).contains(reporter.subject) else {
      throw CommerceError.permissionDenied("service '\(reporter.subject)' does not report this kind of event")
    }
    guard let id = UUID(id: request.orderId), let order = try await store.order(id) else {
      throw CommerceError.notFound("order", request.orderId)
    }
    if try await store.eventApplied(id, eventID: request.eventId) {
      return .with {
        $0.order = OrderMessages.order(order, view: .full)
        $0.duplicate = true
      }
    }
    let event = (id: request.eventId, kind: request.kind.rawValue)
    switch request.kind {
    case .paymentAuthorized, .paymentFailed:
      return try await paymentEvent(request, order: order, event: event)
    default:
      break
    }
    try OrderEvents.precheck(request, order: order, now: now())
    // The payment is captured when the first shipment is handed to the carrier.
    if request.kind == .shipmentShipped, !order.paymentCaptured, let paymentID = order.paymentID, !paymentID.isEmpty {
      _ = try await payments.capturePayment(
        .with {
          $0.paymentId = paymentID
          $0.idempotencyKey = order.id.lowercasedString + ":capture"
        }, options: CallOptions(timeout: configuration.peerCallTimeout))
    }
    let duplicate = DuplicateFlag()
    let changed = try await store.change(id, step: nil, now: now()) { o, tx in
      if try await store.recordEvent(o.id, eventID: request.eventId, kind: request.kind.rawValue, now: now(), in: tx) {
        duplicate.set()
        return
      }
      try OrderEvents.apply(request, to: &o, now: now())
    }
    return .with {
      $0.order = OrderMessages.order(changed, view: .full)
      $0.duplicate = duplicate.value
    }
  }

  /// An asynchronous payment result: continues the saga of an order waiting for it.
  private func paymentEvent(_ request: CommerceV1.ApplyOrderEventRequest, order: OrderRecord, event: (id: String, kind: Int32))
    async throws -> CommerceV1.ApplyOrderEventResponse
  {
    let authorized = request.kind == .paymentAuthorized
    var current = order
    if current.status == .awaitingPayment {
      try await takeSaga(order.id)
      guard let latest = try await store.order(order.id) else { throw CommerceError.notFound("order", request.orderId) }
      current = latest
    }
    if current.status == .awaitingPayment {
      var payment = CommerceV1.Payment()
      payment.paymentId = request.subjectId.isEmpty ? (current.paymentID ?? "") : request.subjectId
      payment.status = authorized ? .authorized : .declined
      if let reported = try? await payments.getPayment(.with { $0.paymentId = payment.paymentId }, options: CallOptions(timeout: configuration.peerCallTimeout)).payment {
        payment.method = reported.method
        if !authorized { payment.declineReason = reported.declineReason }
      }
      do {
        let result = authorized
          ? try await saga.confirm(current, payment: payment, event: event)
          : try await saga.decline(current, payment: payment, event: event)
        return .with { $0.order = OrderMessages.order(result, view: .full) }
      } catch {
        _ = try? await store.change(current.id, now: now()) { o, _ in
          if o.sagaState == .running, o.sagaOwner == saga.owner { o.sagaLeaseUntil = now() }
        }
        throw CommerceError(.unavailable, nil, "the payment result could not be applied yet; retry", retryAfter: .seconds(1)).causedBy(error)
      }
    }
    // Already settled: accepted when the order reflects the same outcome.
    let consistent =
      authorized ? (current.status != .failed && current.status != .pending) : (current.status == .failed || current.status == .cancelled)
    guard consistent else {
      throw CommerceError.invalidTransition(
        from: current.status.storedName, to: (authorized ? CommerceV1.OrderStatus.confirmed : .failed).storedName)
    }
    if authorized, current.status == .cancelled, !request.subjectId.isEmpty {
      // Authorized after the order was cancelled: the hold is released at once.
      _ = try await payments.voidPayment(
        .with {
          $0.paymentId = request.subjectId
          $0.reason = "order cancelled"
        }, options: CallOptions(timeout: configuration.peerCallTimeout))
    }
    let recorded = try await store.change(current.id, now: now()) { o, tx in
      _ = try await store.recordEvent(o.id, eventID: event.id, kind: event.kind, now: now(), in: tx)
    }
    return .with { $0.order = OrderMessages.order(recorded, view: .full) }
  }

  // MARK: Statistics

  public func getOrderStats(request: CommerceV1.GetOrderStatsRequest, context: ServerContext) async throws
    -> CommerceV1.GetOrderStatsResponse
  {
    let window = try StatsWindow(request.window)
    guard (0...50).contains(request.topProducts) else {
      throw CommerceError.invalidArgument(field: "top_products", "must be 0 (for 10) to 50")
    }
    let top = request.topProducts == 0 ? 10 : Int(request.topProducts)
    async let placed = store.placedByStatus(from: window.start, to: window.end)
    async let failed = store.failedCheckouts(from: window.start, to: window.end)
    async let days = store.salesByDay(from: window.start, to: window.end)
    async let products = store.topProducts(from: window.start, to: window.end, limit: top)
    let (byStatus, failedCount, sales, best) = try await (placed, failed, days, products)
    // Revenue and average order value per currency, from the per-day sums.
    var totals: [String: (orders: Int64, minor: Int64)] = [:]
    for day in sales {
      totals[day.currency, default: (0, 0)].orders += day.orders
      totals[day.currency, default: (0, 0)].minor += day.revenueMinor
    }
    let currencies = totals.keys.sorted()
    return .with {
      $0.ordersPlaced = byStatus.reduce(0) { $0 + $1.count }
      $0.ordersByStatus = byStatus.compactMap { entry in
        CommerceV1.OrderStatus(storedName: entry.status).map { status in .with { $0.status = status; $0.count = entry.count } }
      }
      $0.grossRevenue = currencies.map { Money(amountMinor: totals[$0]!.minor, currency: $0).proto }
      $0.averageOrderValue = currencies.map { Money(amountMinor: totals[$0]!.minor / totals[$0]!.orders, currency: $0).proto }
      $0.failedCheckouts = failedCount
      $0.salesByDay = sales.map { day in
        .with {
          $0.date = day.day
          $0.orders = day.orders
          $0.revenue = Money(amountMinor: day.revenueMinor, currency: day.currency).proto
        }
      }
      $0.topProducts = best.map { product in
        .with {
          $0.productId = product.productID
          $0.title = product.title
          $0.units = product.units
          $0.revenue = Money(amountMinor: product.revenueMinor, currency: product.currency).proto
        }
      }
    }
  }
}

/// Whether an event turned out to be a duplicate inside its transaction.
final class DuplicateFlag: Sendable {
  private let flag = Mutex(false)
  func set() { flag.withLock { $0 = true } }
  var value: Bool { flag.withLock { $0 } }
}
