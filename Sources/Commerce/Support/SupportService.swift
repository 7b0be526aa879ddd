public import CommerceAPI
import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// SupportService (support.proto): support tickets with message threads, and returns (RMAs)
/// that end in a restock and a refund.
///
/// Handlers translate between the contract's messages and the domain; the state machines are
/// pure (``TicketTransitions``, ``ReturnTransitions``), refunds are ``ReturnRefunds``, and all
/// SQL is in `SupportStore`. Orders are known only through OrderService.GetOrder (called as the
/// service identity "support", which sees every line), agents through AuthService.GetUser, and
/// warehouses through InventoryService.ListWarehouses, never inside a transaction.
///
/// Decisions the contract leaves to the server (docs/SUPPORT.md has the whole picture):
/// - Staff are ADMIN users. The ticket's customer, the return's customer and the seller of a
///   return's lines see what is theirs; anyone else is told it does not exist (NOT_FOUND). A
///   customer approving, rejecting or receiving their own return, or a seller cancelling one,
///   sees it and gets PERMISSION_DENIED.
/// - An assignee must be an ADMIN user: AuthService.GetUser (allowed to the "support" identity)
///   answers; an unknown user or one without ROLE_ADMIN is NOT_FOUND naming the assignee.
/// - RequestReturn counts, per order line, the units of open returns (REQUESTED, APPROVED) and
///   the units received by RECEIVED and REFUNDED returns, under a lock of the order's row in
///   `support.order_locks`, so concurrent requests for one order run one at a time and never
///   together exceed the delivered units (OrderLine.shipped_quantity of a delivered order).
/// - ReceiveReturn needs at least one unit to arrive (a parcel with nothing in it is
///   INVALID_ARGUMENT: the return stays APPROVED and expires if nothing comes). Its transaction
///   moves the return to RECEIVED and writes the settlement intent; the settlement relay then
///   restocks the resalable units (InventoryService.AdjustStock, RETURN_RESTOCK, key
///   "return:<id>:restock:<order line>") and refunds (PaymentService.RefundPayment,
///   CUSTOMER_RETURN, key "return:<id>:refund"), retrying until both succeed, and moves the
///   return to REFUNDED. A refund the provider settles later (PENDING) is asked again on the
///   relay's next rounds.
/// - The return label is `https://returns.emporium.example/labels/<rma_code>.pdf`; APPROVED
///   returns expire 30 days after approval. RESOLVED tickets close 14 days after resolution.
///   Both sweeps run every minute (``sweep(now:)``).
/// - Idempotency scope of CreateTicket, AddTicketMessage and RequestReturn: the caller.
public struct SupportService: CommerceV1.SupportService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// The timeout of each call to a peer.
    public var peerCallTimeout: Duration = .seconds(10)
    /// How long a RESOLVED ticket stays open to a customer reply before it closes.
    public var resolvedTicketLifetime: TimeInterval = 14 * 24 * 3600
    /// How long an APPROVED return waits for its units.
    public var approvalLifetime: TimeInterval = 30 * 24 * 3600
    /// How often the sweeper runs.
    public var sweepInterval: Duration = .seconds(60)

    public init() {}
  }

  let store: SupportStore
  let idempotency: IdempotencyStore
  let orders: CommerceV1.OrderService.Client
  let payments: CommerceV1.PaymentService.Client
  let inventory: CommerceV1.InventoryService.Client
  let auth: CommerceV1.AuthService.Client
  /// NotificationService, for the relay of customers' notifications; nil runs no relay.
  let notifications: (any ClientTransport)?
  let configuration: Configuration
  let logger: Logger
  let now: @Sendable () -> Date

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `support` only (migrated beforehand).
  ///   - orders, payments, inventory, auth: the peers' transports, carrying the identity
  ///     "support".
  ///   - notifications: NotificationService's transport, when the process reaches it.
  public init(
    pool: PostgresPool, orders: any ClientTransport, payments: any ClientTransport, inventory: any ClientTransport,
    auth: any ClientTransport, notifications: (any ClientTransport)? = nil, configuration: Configuration = .init(),
    logger: Logger = Logger(label: "emporium.support"), now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = SupportStore(pool: pool)
    self.idempotency = IdempotencyStore(pool: pool, schema: "support")
    self.orders = CommerceV1.OrderService.Client(orders)
    self.payments = CommerceV1.PaymentService.Client(payments)
    self.inventory = CommerceV1.InventoryService.Client(inventory)
    self.auth = CommerceV1.AuthService.Client(auth)
    self.notifications = notifications
    self.configuration = configuration
    self.logger = logger
    self.now = now
  }

  /// The background work: the relay of return events to OrderService, the settlement relay
  /// (restock and refund of received returns), the sweeper, the outbox's retention, and with
  /// NotificationService reachable the relay of customers' notifications.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    let service = self
    var services: [any ServiceLifecycle.Service] = [
      OutboxRelay.applyingOrderEvents(
        from: store.outbox, topic: SupportStore.orderEventTopic, pool: store.pool, orders: orders, logger: logger),
      OutboxRelay("return settlements", outbox: store.outbox, pool: store.pool, logger: logger) { try await service.settleReceivedReturns() },
      PeriodicWork("support sweep", every: configuration.sweepInterval, logger: logger) { try await service.sweep(now: service.now()) },
      store.outbox.retention(pool: store.pool, logger: logger),
    ]
    if let notifications {
      services.append(NotificationRelay(outbox: store.outbox, pool: store.pool, notifications: notifications, logger: logger))
    }
    return services
  }

  private var peerOptions: CallOptions { CallOptions(timeout: configuration.peerCallTimeout) }

  /// Whether the caller was admitted as staff (an ADMIN user).
  private var isStaff: Bool { CallAuth.current?.admission == .role }

  // MARK: Tickets

  /// The ticket `text` names, if the caller may see it; NOT_FOUND otherwise.
  private func visibleTicket(_ text: String, context: ServerContext) async throws -> TicketRecord {
    guard !text.isEmpty else { throw CommerceError.invalidArgument(field: "ticket_id", "is required") }
    guard let id = UUID(id: text), let ticket = try await store.ticket(id) else { throw CommerceError.notFound("ticket", text) }
    try context.requireOwner(ticket.customerID, or: .notFound("ticket", text))
    return ticket
  }

  public func createTicket(request: CommerceV1.CreateTicketRequest, context: ServerContext) async throws -> CommerceV1.CreateTicketResponse {
    var violations = FieldViolations()
    violations.checkLength(request.subject, "subject", 1...200)
    violations.checkLength(request.body, "body", 1...10_000)
    violations.check(request.orderId.count <= 64, "order_id", "must be at most 64 characters")
    if case .unrecognized = request.category { violations.add("category", "is not a TicketCategory") }
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.SupportService.CreateTicket.descriptor, key: request.idempotencyKey, request: request)
    if !request.orderId.isEmpty {
      let order = try await order(request.orderId)
      guard order.customerId == caller.subject else { throw CommerceError.notFound("order", request.orderId) }
    }
    let now = now()
    return try await idempotency.run(call) { tx in
      var ticket = TicketRecord(
        id: UUID(), customerID: caller.subject, subject: request.subject,
        category: request.category == .unspecified ? .other : request.category, status: .open, orderID: request.orderId, assigneeID: "",
        messageCount: 0, publicMessageCount: 0, lastMessageAt: now, lastPublicMessageAt: now, resolvedAt: nil, createdAt: now,
        updatedAt: now, version: 1)
      try await store.insert(ticket, in: tx)
      let first = try await store.append(
        TicketMessageRecord(
          id: UUID(), ticketID: ticket.id, sequence: 0, authorID: caller.subject, authorRole: .customer, body: request.body,
          internalNote: false, createdAt: now), to: &ticket, notify: false, in: tx)
      try await store.save(ticket, in: tx)
      return .with {
        $0.ticket = SupportMessages.ticket(ticket, staff: false)
        $0.firstMessage = SupportMessages.message(first)
      }
    }
  }

  public func getTicket(request: CommerceV1.GetTicketRequest, context: ServerContext) async throws -> CommerceV1.GetTicketResponse {
    let ticket = try await visibleTicket(request.ticketId, context: context)
    return .with { $0.ticket = SupportMessages.ticket(ticket, staff: isStaff) }
  }

  public func listTickets(request: CommerceV1.ListTicketsRequest, context: ServerContext) async throws -> CommerceV1.ListTicketsResponse {
    let caller = try context.principal()
    let staff = caller.kind == .user && caller.has(.admin)
    let size = try PageToken.pageSize(request.pageSize, default: 20, maximum: 100)
    var violations = FieldViolations()
    for (index, status) in request.statuses.enumerated() {
      if case .unrecognized = status { violations.add("statuses[\(index)]", "is not a TicketStatus") }
      violations.check(status != .unspecified, "statuses[\(index)]", "must not be UNSPECIFIED")
    }
    if case .unrecognized = request.category { violations.add("category", "is not a TicketCategory") }
    try violations.throwIfAny()
    var filter = SupportStore.TicketFilter(
      statuses: request.statuses.map(\.rawValue), category: request.category.rawValue, customerID: request.customerId,
      assigneeID: request.assigneeId)
    if !staff {
      guard request.customerId.isEmpty || request.customerId == caller.subject else {
        throw CommerceError.permissionDenied("customers list only their own tickets")
      }
      guard request.assigneeId.isEmpty else { throw CommerceError.permissionDenied("only ADMIN users filter on an assignee") }
      filter.customerID = caller.subject
    }
    let binding = PageToken.binding(
      "ListTickets", [filter.statuses.map(String.init).joined(separator: ","), String(filter.category), filter.customerID, filter.assigneeID])
    let after = try PageToken.position(request.pageToken, binding: binding, count: 2).flatMap { position -> (Int64, UUID)? in
      guard let micros = Int64(position[0]), let id = UUID(id: position[1]) else { return nil }
      return (micros, id)
    }
    let rows = try await store.tickets(filter, after: after, limit: size + 1)
    let page = Array(rows.prefix(size))
    return .with {
      $0.tickets = page.map { SupportMessages.ticket($0, staff: staff) }
      if rows.count > size, let last = page.last {
        $0.nextPageToken = PageToken.make([String(SupportStore.micros(last.updatedAt)), last.id.lowercasedString], binding: binding)
      }
    }
  }

  public func listTicketMessages(request: CommerceV1.ListTicketMessagesRequest, context: ServerContext) async throws
    -> CommerceV1.ListTicketMessagesResponse
  {
    let size = try PageToken.pageSize(request.pageSize, default: 50, maximum: 200)
    let ticket = try await visibleTicket(request.ticketId, context: context)
    let staff = isStaff
    let binding = PageToken.binding("ListTicketMessages", [ticket.id.lowercasedString, staff ? "staff" : "customer"])
    let after = try PageToken.position(request.pageToken, binding: binding, count: 1).map { Int64($0[0]) ?? 0 } ?? 0
    let rows = try await store.messages(ticket.id, after: after, includingNotes: staff, limit: size + 1)
    let page = Array(rows.prefix(size))
    return .with {
      $0.messages = page.map(SupportMessages.message)
      if rows.count > size, let last = page.last { $0.nextPageToken = PageToken.make([String(last.sequence)], binding: binding) }
    }
  }

  public func addTicketMessage(request: CommerceV1.AddTicketMessageRequest, context: ServerContext) async throws
    -> CommerceV1.AddTicketMessageResponse
  {
    var violations = FieldViolations()
    violations.check(!request.ticketId.isEmpty, "ticket_id", "is required")
    violations.checkLength(request.body, "body", 1...10_000)
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let staff = isStaff
    let ticket = try await visibleTicket(request.ticketId, context: context)
    if request.internalNote, !staff { throw CommerceError.permissionDenied("only support agents write internal notes") }
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.SupportService.AddTicketMessage.descriptor, key: request.idempotencyKey,
      request: request)
    let now = now()
    return try await idempotency.run(call) { tx in
      guard var locked = try await store.lockTicket(ticket.id, in: tx) else { throw CommerceError.notFound("ticket", request.ticketId) }
      guard locked.status != .closed else {
        throw CommerceError(.failedPrecondition, .ticketClosed, "the ticket is closed", metadata: ["ticketId": request.ticketId])
      }
      // An ADMIN user writing on their own ticket writes as its customer.
      let byCustomer = caller.subject == locked.customerID
      let status = TicketTransitions.afterMessage(locked.status, byCustomer: byCustomer, internalNote: request.internalNote)
      locked.status = status
      if status != .resolved { locked.resolvedAt = nil }
      let message = try await store.append(
        TicketMessageRecord(
          id: UUID(), ticketID: locked.id, sequence: 0, authorID: caller.subject, authorRole: byCustomer ? .customer : .agent,
          body: request.body, internalNote: request.internalNote, createdAt: now),
        to: &locked, notify: !byCustomer && !request.internalNote, in: tx)
      locked.updatedAt = max(now, locked.updatedAt)
      locked.version += 1
      try await store.save(locked, in: tx)
      return .with {
        $0.message = SupportMessages.message(message)
        $0.ticket = SupportMessages.ticket(locked, staff: staff)
      }
    }
  }

  public func updateTicketStatus(request: CommerceV1.UpdateTicketStatusRequest, context: ServerContext) async throws
    -> CommerceV1.UpdateTicketStatusResponse
  {
    var violations = FieldViolations()
    violations.check(!request.ticketId.isEmpty, "ticket_id", "is required")
    if case .unrecognized = request.status { violations.add("status", "is not a TicketStatus") }
    violations.check(request.status != .unspecified || request.assignment != nil, "status", "is required unless the assignee changes")
    violations.check(request.expectedVersion >= 0, "expected_version", "must not be negative")
    violations.check(request.note.count <= 10_000, "note", "must be at most 10000 characters")
    try violations.throwIfAny()
    let caller = try context.principal()
    let staff = isStaff
    let ticket = try await visibleTicket(request.ticketId, context: context)
    if !staff {
      guard request.assignment == nil, request.status == .resolved, request.note.isEmpty else {
        throw CommerceError.permissionDenied("a customer may only mark their ticket RESOLVED")
      }
    }
    if case .assigneeId(let assignee)? = request.assignment, !assignee.isEmpty { try await requireAgent(assignee) }
    let now = now()
    let updated = try await store.pool.withTransaction { tx in
      guard var locked = try await store.lockTicket(ticket.id, in: tx) else { throw CommerceError.notFound("ticket", request.ticketId) }
      let current = locked
      if request.status != .unspecified, request.status != locked.status {
        guard TicketTransitions.allows(from: locked.status, to: request.status) else {
          throw CommerceError.invalidTransition(from: locked.status.name, to: request.status.name)
        }
        locked.status = request.status
        locked.resolvedAt = request.status == .resolved ? now : nil
      }
      if case .assigneeId(let assignee)? = request.assignment { locked.assigneeID = assignee }
      // A repeat of a change already made answers the ticket as it is, whatever version the
      // caller read; a change checks the version.
      guard locked != current || !request.note.isEmpty else { return current }
      if request.expectedVersion != 0, request.expectedVersion != current.version {
        throw CommerceError.versionMismatch(current: current.version)
      }
      if !request.note.isEmpty {
        _ = try await store.append(
          TicketMessageRecord(
            id: UUID(), ticketID: locked.id, sequence: 0, authorID: caller.subject, authorRole: .agent, body: request.note,
            internalNote: true, createdAt: now), to: &locked, notify: false, in: tx)
      }
      locked.updatedAt = max(now, locked.updatedAt)
      locked.version += 1
      try await store.save(locked, in: tx)
      return locked
    }
    return .with { $0.ticket = SupportMessages.ticket(updated, staff: staff) }
  }

  /// Checks that `userID` is an ADMIN user (AuthService.GetUser); NOT_FOUND otherwise.
  private func requireAgent(_ userID: String) async throws {
    let user: CommerceV1.User?
    do {
      user = try await auth.getUser(.with { $0.userId = userID }, options: peerOptions).user
    } catch let error as RPCError where error.code == .notFound || error.code == .invalidArgument {
      user = nil
    }
    guard let user, user.roles.contains(.admin) else { throw CommerceError.notFound("assignee", userID) }
  }

  // MARK: Returns

  /// The order as OrderService gives it to this service (every line); NOT_FOUND when unknown.
  private func order(_ id: String) async throws -> CommerceV1.Order {
    do {
      guard let found = try await orders.getOrder(.with { $0.orderId = id }, options: peerOptions).order else {
        throw CommerceError.notFound("order", id)
      }
      return found
    } catch let error as RPCError where error.code == .notFound || error.code == .invalidArgument {
      throw CommerceError.notFound("order", id)
    }
  }

  /// How the caller relates to a return.
  enum Relation {
    case staff, customer, seller
  }

  /// How the caller relates to `r`, or nil when it may not see it.
  private func relation(to r: ReturnRecord) -> Relation? {
    guard let auth = CallAuth.current, let principal = auth.principal?.endUser else { return nil }
    if auth.admission == .role { return .staff }
    if principal.subject == r.customerID { return .customer }
    if principal.subject == r.sellerID, principal.has(.seller) { return .seller }
    return nil
  }

  /// The return `text` names, if the caller may see it; NOT_FOUND otherwise.
  private func visibleReturn(_ text: String) async throws -> (ReturnRecord, Relation) {
    guard !text.isEmpty else { throw CommerceError.invalidArgument(field: "return_id", "is required") }
    guard let id = UUID(id: text), let r = try await store.returnRecord(id), let relation = relation(to: r) else {
      throw CommerceError.notFound("return", text)
    }
    return (r, relation)
  }

  /// The statuses of a delivered order. REFUNDED is one: every unit came back, so a request
  /// finds nothing left to return (RETURN_QUANTITY_EXCEEDED) rather than a closed window.
  static let deliveredStatuses: Set<CommerceV1.OrderStatus> = [.delivered, .returnRequested, .partiallyRefunded, .refunded]

  public func requestReturn(request: CommerceV1.RequestReturnRequest, context: ServerContext) async throws
    -> CommerceV1.RequestReturnResponse
  {
    var violations = FieldViolations()
    violations.check(!request.orderId.isEmpty, "order_id", "is required")
    violations.check(!request.lines.isEmpty, "lines", "must name at least one line")
    violations.check(request.lines.count <= 100, "lines", "must hold at most 100 lines")
    var seen = Set<String>()
    for (index, line) in request.lines.enumerated() {
      violations.check(!line.orderLineId.isEmpty, "lines[\(index)].order_line_id", "is required")
      violations.check(seen.insert(line.orderLineId).inserted, "lines[\(index)].order_line_id", "names the line of an earlier entry")
      violations.check(line.quantity >= 1, "lines[\(index)].quantity", "must be at least 1")
      switch line.reason {
      case .unspecified, .unrecognized: violations.add("lines[\(index)].reason", "is required")
      default: break
      }
    }
    violations.check(request.customerComment.count <= 2000, "customer_comment", "must be at most 2000 characters")
    if request.lines.contains(where: { $0.reason == .other }) {
      violations.check(
        !request.customerComment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "customer_comment",
        "is required when a line's reason is OTHER")
    }
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.SupportService.RequestReturn.descriptor, key: request.idempotencyKey, request: request)
    let order = try await order(request.orderId)
    guard caller.kind == .user, order.customerId == caller.subject else { throw CommerceError.notFound("order", request.orderId) }
    let byID = Dictionary(order.lines.map { ($0.orderLineId, $0) }, uniquingKeysWith: { a, _ in a })
    for line in request.lines where byID[line.orderLineId] == nil { throw CommerceError.notFound("order line", line.orderLineId) }
    let sellers = Set(request.lines.compactMap { byID[$0.orderLineId]?.sellerId })
    guard sellers.count == 1, let sellerID = sellers.first else {
      throw CommerceError.invalidArgument(field: "lines", "must all be lines of one seller; return each seller's lines separately")
    }
    let now = now()
    return try await idempotency.run(call) { tx in
      guard Self.deliveredStatuses.contains(order.status), let closes = order.returnWindowCloseTime?.date, now < closes else {
        var metadata = ["orderId": order.orderId]
        if let closes = order.returnWindowCloseTime?.date { metadata["closeTime"] = ISO8601DateFormatter().string(from: closes) }
        throw CommerceError(.failedPrecondition, .returnWindowClosed, "the order's return window is closed", metadata: metadata)
      }
      try await store.lockOrder(order.orderId, in: tx)
      let taken = try await store.unitsTaken(orderID: order.orderId, in: tx)
      var lines: [ReturnLineRecord] = []
      for (index, wanted) in request.lines.enumerated() {
        let line = byID[wanted.orderLineId]!
        let left = line.shippedQuantity - (taken[line.orderLineId] ?? 0)
        guard wanted.quantity <= left else {
          throw CommerceError(
            .failedPrecondition, .returnQuantityExceeded, "lines[\(index)] asks for more units than are left to return",
            metadata: ["orderLineId": line.orderLineId, "requested": String(wanted.quantity), "available": String(max(0, left))]
          ).precondition(
            kind: "RETURN_QUANTITY_EXCEEDED", subject: "order_line/\(line.orderLineId)",
            "requested \(wanted.quantity), returnable \(max(0, left))")
        }
        lines.append(
          ReturnLineRecord(
            orderLineID: line.orderLineId, productID: line.productId, title: line.title, quantity: wanted.quantity, reason: wanted.reason,
            unitPriceMinor: line.unitPrice?.amountMinor ?? 0, lineQuantity: line.quantity, lineTaxMinor: line.tax?.amountMinor ?? 0))
      }
      let id = UUID()
      let r = ReturnRecord(
        id: id, rmaCode: Self.rmaCode(id), orderID: order.orderId, customerID: order.customerId, sellerID: sellerID, status: .requested,
        customerComment: request.customerComment, decisionNote: "", returnLabelURL: "",
        currency: order.totals?.total?.currency ?? "USD", paymentID: order.paymentId, warehouseID: "", refundID: "", createdAt: now,
        updatedAt: now, expireAt: nil, receiveAt: nil, refundAt: nil, version: 1, lines: lines)
      try await store.insert(r, in: tx)
      return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(r) }
    }
  }

  /// "RMA-" and 10 characters of the id in Crockford's base32: short enough to write on a parcel.
  static func rmaCode(_ id: UUID) -> String {
    let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    var value = withUnsafeBytes(of: id.uuid) { bytes in bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    var code = ""
    for _ in 0..<10 {
      code.append(alphabet[Int(value & 31)])
      value >>= 5
    }
    return "RMA-" + code
  }

  public func getReturn(request: CommerceV1.GetReturnRequest, context: ServerContext) async throws -> CommerceV1.GetReturnResponse {
    let (r, _) = try await visibleReturn(request.returnId)
    return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(r) }
  }

  public func listReturns(request: CommerceV1.ListReturnsRequest, context: ServerContext) async throws -> CommerceV1.ListReturnsResponse {
    let caller = try context.principal()
    let size = try PageToken.pageSize(request.pageSize, default: 20, maximum: 100)
    var violations = FieldViolations()
    for (index, status) in request.statuses.enumerated() {
      if case .unrecognized = status { violations.add("statuses[\(index)]", "is not a ReturnStatus") }
      violations.check(status != .unspecified, "statuses[\(index)]", "must not be UNSPECIFIED")
    }
    try violations.throwIfAny()
    var filter = SupportStore.ReturnFilter(
      statuses: request.statuses.map(\.rawValue), orderID: request.orderId, customerID: request.customerId, sellerID: request.sellerId)
    if !(caller.kind == .user && caller.has(.admin)) {
      let me = caller.subject
      guard request.customerId.isEmpty || request.customerId == me else {
        throw CommerceError.permissionDenied("only ADMIN users list another customer's returns")
      }
      guard request.sellerId.isEmpty || request.sellerId == me else {
        throw CommerceError.permissionDenied("only ADMIN users list another seller's returns")
      }
      if request.sellerId == me {
        guard caller.has(.seller) else { throw CommerceError.permissionDenied("only sellers list the returns of their lines") }
      } else if request.customerId.isEmpty, caller.has(.seller) {
        // A seller without a filter: the returns of their lines.
        filter.sellerID = me
      } else {
        filter.customerID = me
      }
    }
    let binding = PageToken.binding(
      "ListReturns", [filter.statuses.map(String.init).joined(separator: ","), filter.orderID, filter.customerID, filter.sellerID])
    let after = try PageToken.position(request.pageToken, binding: binding, count: 2).flatMap { position -> (Int64, UUID)? in
      guard let micros = Int64(position[0]), let id = UUID(id: position[1]) else { return nil }
      return (micros, id)
    }
    let rows = try await store.returns(filter, after: after, limit: size + 1)
    let page = Array(rows.prefix(size))
    return .with {
      $0.returnAuthorizations = page.map(SupportMessages.returnAuthorization)
      if rows.count > size, let last = page.last {
        $0.nextPageToken = PageToken.make([String(SupportStore.micros(last.createdAt)), last.id.lowercasedString], binding: binding)
      }
    }
  }

  /// The refusal of a change the caller may see but not make: a customer deciding on their own
  /// return, a seller withdrawing the customer's.
  static func notYours(_ relation: Relation) -> CommerceError {
    relation == .customer
      ? .permissionDenied("only the seller of the return's lines and support agents decide on a return")
      : .permissionDenied("only the customer and support agents withdraw a return")
  }

  /// Runs a change of a return the caller may make: the return is locked (after its order's
  /// lock row), `allowed` decides who may, and `change` moves it (returning the order event to
  /// report, if any) or returns nil to answer it unchanged; `expectedVersion` is checked only
  /// for a change, so a retried decision gets its answer.
  private func changeReturn(
    _ text: String, allowed: Set<Relation>, expectedVersion: Int64 = 0,
    change: (inout ReturnRecord, Date, PostgresTransaction) async throws -> CommerceV1.OrderEventKind??
  ) async throws -> ReturnRecord {
    let (visible, relation) = try await visibleReturn(text)
    guard allowed.contains(relation) else { throw Self.notYours(relation) }
    let now = now()
    return try await store.pool.withTransaction { tx in
      guard var r = try await store.lockReturn(visible.id, in: tx) else { throw CommerceError.notFound("return", text) }
      let current = r
      // A decision already made answers the return as it is, whatever version the caller read.
      guard let event = try await change(&r, now, tx) else { return current }
      if expectedVersion != 0, expectedVersion != current.version { throw CommerceError.versionMismatch(current: current.version) }
      return try await store.save(r, orderEvent: event, now: now, in: tx)
    }
  }

  public func approveReturn(request: CommerceV1.ApproveReturnRequest, context: ServerContext) async throws
    -> CommerceV1.ApproveReturnResponse
  {
    var violations = FieldViolations()
    violations.check(request.decisionNote.count <= 2000, "decision_note", "must be at most 2000 characters")
    violations.check(request.expectedVersion >= 0, "expected_version", "must not be negative")
    try violations.throwIfAny()
    let lifetime = configuration.approvalLifetime
    let r = try await changeReturn(request.returnId, allowed: [.staff, .seller], expectedVersion: request.expectedVersion) { r, now, _ in
      if r.status == .approved { return nil }
      guard ReturnTransitions.allows(from: r.status, to: .approved) else { throw CommerceError.invalidTransition(from: r.status.name, to: "APPROVED") }
      r.status = .approved
      r.decisionNote = request.decisionNote
      r.returnLabelURL = "https://returns.emporium.example/labels/\(r.rmaCode).pdf"
      r.expireAt = now.addingTimeInterval(lifetime)
      return .some(nil)
    }
    return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(r) }
  }

  public func rejectReturn(request: CommerceV1.RejectReturnRequest, context: ServerContext) async throws -> CommerceV1.RejectReturnResponse {
    var violations = FieldViolations()
    violations.checkLength(request.decisionNote, "decision_note", 1...2000)
    violations.check(request.expectedVersion >= 0, "expected_version", "must not be negative")
    try violations.throwIfAny()
    let r = try await changeReturn(request.returnId, allowed: [.staff, .seller], expectedVersion: request.expectedVersion) { r, _, _ in
      if r.status == .rejected { return nil }
      guard ReturnTransitions.allows(from: r.status, to: .rejected) else { throw CommerceError.invalidTransition(from: r.status.name, to: "REJECTED") }
      r.status = .rejected
      r.decisionNote = request.decisionNote
      return .some(.returnClosed)
    }
    return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(r) }
  }

  public func cancelReturn(request: CommerceV1.CancelReturnRequest, context: ServerContext) async throws -> CommerceV1.CancelReturnResponse {
    let r = try await changeReturn(request.returnId, allowed: [.staff, .customer]) { r, _, _ in
      if r.status == .cancelled { return nil }
      guard ReturnTransitions.allows(from: r.status, to: .cancelled) else {
        throw CommerceError.invalidTransition(from: r.status.name, to: "CANCELLED")
      }
      r.status = .cancelled
      r.expireAt = nil
      return .some(.returnClosed)
    }
    return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(r) }
  }

  public func receiveReturn(request: CommerceV1.ReceiveReturnRequest, context: ServerContext) async throws
    -> CommerceV1.ReceiveReturnResponse
  {
    var violations = FieldViolations()
    violations.check(!request.warehouseId.isEmpty, "warehouse_id", "is required")
    var seen = Set<String>()
    for (index, line) in request.lines.enumerated() {
      violations.check(!line.orderLineId.isEmpty, "lines[\(index)].order_line_id", "is required")
      violations.check(seen.insert(line.orderLineId).inserted, "lines[\(index)].order_line_id", "names the line of an earlier entry")
      violations.check(line.receivedQuantity >= 0, "lines[\(index)].received_quantity", "must not be negative")
      if line.receivedQuantity > 0 {
        switch line.condition {
        case .unspecified, .unrecognized: violations.add("lines[\(index)].condition", "is required")
        default: break
        }
      }
    }
    try violations.throwIfAny()
    let (visible, relation) = try await visibleReturn(request.returnId)
    guard relation != .customer else { throw Self.notYours(relation) }
    if visible.status == .received || visible.status == .refunded {
      return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(visible) }
    }
    // The request's lines against the return's, before anything else is asked.
    let byID = Dictionary(visible.lines.map { ($0.orderLineID, $0) }, uniquingKeysWith: { a, _ in a })
    for (index, line) in request.lines.enumerated() {
      guard let returned = byID[line.orderLineId] else { throw CommerceError.notFound("return line", line.orderLineId) }
      violations.check(
        line.receivedQuantity <= returned.quantity, "lines[\(index)].received_quantity", "exceeds the \(returned.quantity) units of the return line")
    }
    violations.check(request.lines.contains { $0.receivedQuantity > 0 }, "lines", "must record at least one unit that arrived")
    try violations.throwIfAny()
    if visible.status == .approved {
      let known = try await inventory.knowsWarehouse(request.warehouseId, options: peerOptions)
      guard known else { throw CommerceError.notFound("warehouse", request.warehouseId) }
    }
    let store = store
    let r = try await changeReturn(request.returnId, allowed: [.staff, .seller]) { r, now, tx in
      if r.status == .received || r.status == .refunded { return nil }
      guard ReturnTransitions.allows(from: r.status, to: .received) else { throw CommerceError.invalidTransition(from: r.status.name, to: "RECEIVED") }
      let arrived = Dictionary(request.lines.map { ($0.orderLineId, $0) }, uniquingKeysWith: { a, _ in a })
      // Units of the same lines refunded by earlier returns, under the order's lock: the tax
      // shares of every return of a line add up to the line's tax at most.
      let before = try await store.unitsTaken(orderID: r.orderID, receivedOnly: true, excluding: r.id, in: tx)
      for index in r.lines.indices {
        let line = r.lines[index]
        let received = arrived[line.orderLineID]?.receivedQuantity ?? 0
        r.lines[index].receivedQuantity = received
        r.lines[index].condition = received > 0 ? arrived[line.orderLineID]!.condition : .unspecified
        r.lines[index].refundMinor = ReturnRefunds.refund(
          units: received, before: before[line.orderLineID] ?? 0, unitPrice: line.unitPriceMinor, lineQuantity: line.lineQuantity,
          lineTax: line.lineTaxMinor)
      }
      r.status = .received
      r.warehouseID = request.warehouseId
      r.receiveAt = now
      r.expireAt = nil
      return .some(nil)
    }
    return .with { $0.returnAuthorization = SupportMessages.returnAuthorization(r) }
  }

  public func getSupportStats(request: CommerceV1.GetSupportStatsRequest, context: ServerContext) async throws
    -> CommerceV1.GetSupportStatsResponse
  {
    let stats = try await store.stats()
    return .with {
      $0.openTickets = stats.openTickets
      $0.openReturns = stats.openReturns
    }
  }
}
