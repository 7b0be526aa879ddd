public import CommerceAPI
import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC

/// AdminService (admin.proto): the operator console. Users, seller applications, moderation and
/// long-running operations, all delegated to the owning services through their service-only
/// primitives, plus the audit log of every change.
///
/// Handlers validate, call the owning service as the "admin" identity, and record the outcome;
/// all SQL is in `AdminStore`. Every method requires ROLE_ADMIN (CommerceKit's `AuthInterceptor`
/// enforces admin.proto's access rules).
///
/// Decisions the contract leaves to the server:
/// - Peers are never called inside a transaction. A change is made by the owning service first;
///   its audit event is then written in one transaction with the action's outcome (for
///   ReindexCatalog, the operation record). A change that left the target as it was (an
///   idempotent repeat) writes no audit event.
/// - The target's previous state is read from the owning service before the change and kept in
///   the event's attributes ("previousStatus", "previousSellerStatus").
/// - An operation's state is not copied: GetOperation reads CatalogService's reindex job of the
///   same id at each call. A job the catalog does not know (yet) reads PENDING.
/// - Idempotency scope for ReindexCatalog: the calling admin.
public struct AdminService: CommerceV1.AdminService.ServiceProtocol {
  let store: AdminStore
  let idempotency: IdempotencyStore
  let auth: CommerceV1.AuthService.Client
  let reviews: CommerceV1.ReviewService.Client
  let catalog: CommerceV1.CatalogService.Client
  let orders: CommerceV1.OrderService.Client
  let payments: CommerceV1.PaymentService.Client
  let support: CommerceV1.SupportService.Client
  let dashboard = DashboardCache()
  let logger: Logger
  let now: @Sendable () -> Date

  static let userKind = "emporium.commerce.v1.User"
  static let reviewKind = "emporium.commerce.v1.Review"
  static let operationKind = "emporium.commerce.v1.AdminOperation"

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `admin` only (migrated beforehand).
  ///   - auth: AuthService (accounts, statuses, roles).
  ///   - reviews: ReviewService (moderation).
  ///   - catalog: CatalogService (search reindex jobs, stock alerts).
  ///   - orders, payments, support: OrderService, PaymentService and SupportService (the
  ///     dashboard's figures).
  public init(
    pool: PostgresPool, auth: any ClientTransport, reviews: any ClientTransport, catalog: any ClientTransport,
    orders: any ClientTransport, payments: any ClientTransport, support: any ClientTransport,
    logger: Logger = Logger(label: "emporium.admin"), now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = AdminStore(pool: pool)
    self.idempotency = IdempotencyStore(pool: pool, schema: "admin")
    self.auth = CommerceV1.AuthService.Client(auth)
    self.reviews = CommerceV1.ReviewService.Client(reviews)
    self.catalog = CommerceV1.CatalogService.Client(catalog)
    self.orders = CommerceV1.OrderService.Client(orders)
    self.payments = CommerceV1.PaymentService.Client(payments)
    self.support = CommerceV1.SupportService.Client(support)
    self.logger = logger
    self.now = now
  }

  // MARK: Users

  public func listUsers(request: CommerceV1.ListUsersRequest, context: ServerContext) async throws -> CommerceV1.ListUsersResponse {
    // AuthService validates the page size and binds its page tokens to these filters.
    let page = try await auth.listAccounts(
      .with {
        $0.pageSize = request.pageSize
        $0.pageToken = request.pageToken
        $0.role = request.role
        $0.status = request.status
        $0.sellerStatus = request.sellerStatus
        $0.emailPrefix = request.emailPrefix
      })
    return .with {
      $0.users = page.users
      $0.nextPageToken = page.nextPageToken
    }
  }

  public func suspendUser(request: CommerceV1.SuspendUserRequest, context: ServerContext) async throws -> CommerceV1.SuspendUserResponse {
    var violations = FieldViolations()
    violations.check(!request.userId.isEmpty, "user_id", "is required")
    violations.check(
      (1...1000).contains(request.reason.count) && !request.reason.allSatisfy(\.isWhitespace), "reason",
      "must be 1 to 1000 characters, not only spaces")
    try violations.throwIfAny()
    let actor = try context.principal()
    let before = try await user(request.userId)
    guard before.status != .suspended else { return .with { $0.user = before } }
    let after = try await auth.setUserStatus(
      .with {
        $0.userId = request.userId
        $0.status = .suspended
        $0.reason = request.reason
      }
    ).user ?? before
    try await audit(
      actor: actor, action: "SuspendUser", kind: Self.userKind, target: after.userId, reason: request.reason,
      attributes: ["previousStatus": before.status.protoName])
    return .with { $0.user = after }
  }

  public func reinstateUser(request: CommerceV1.ReinstateUserRequest, context: ServerContext) async throws -> CommerceV1.ReinstateUserResponse {
    var violations = FieldViolations()
    violations.check(!request.userId.isEmpty, "user_id", "is required")
    violations.checkLength(request.note, "note", 0...1000)
    try violations.throwIfAny()
    let actor = try context.principal()
    let before = try await user(request.userId)
    guard before.status != .active else { return .with { $0.user = before } }
    let after = try await auth.setUserStatus(
      .with {
        $0.userId = request.userId
        $0.status = .active
      }
    ).user ?? before
    try await audit(
      actor: actor, action: "ReinstateUser", kind: Self.userKind, target: after.userId, reason: request.note,
      attributes: ["previousStatus": before.status.protoName, "suspensionReason": before.suspensionReason])
    return .with { $0.user = after }
  }

  // MARK: Sellers

  public func approveSeller(request: CommerceV1.ApproveSellerRequest, context: ServerContext) async throws -> CommerceV1.ApproveSellerResponse {
    var violations = FieldViolations()
    violations.check(!request.userId.isEmpty, "user_id", "is required")
    violations.checkLength(request.note, "note", 0...1000)
    try violations.throwIfAny()
    let actor = try context.principal()
    let before = try await user(request.userId)
    switch before.sellerStatus {
    case .approved where before.roles.contains(.seller): return .with { $0.user = before }
    case .pending, .approved: break
    case .unspecified, .rejected, .unrecognized:
      throw CommerceError.invalidTransition(from: before.sellerStatus.protoName, to: CommerceV1.SellerStatus.approved.protoName)
    }
    // The version read makes AuthService refuse (ABORTED) a change that raced this decision.
    let after = try await auth.assignRole(
      .with {
        $0.userId = request.userId
        $0.role = .seller
        $0.expectedVersion = before.version
      }
    ).user ?? before
    try await audit(
      actor: actor, action: "ApproveSeller", kind: Self.userKind, target: after.userId, reason: request.note,
      attributes: ["previousSellerStatus": before.sellerStatus.protoName, "businessName": before.businessName])
    return .with { $0.user = after }
  }

  public func rejectSeller(request: CommerceV1.RejectSellerRequest, context: ServerContext) async throws -> CommerceV1.RejectSellerResponse {
    var violations = FieldViolations()
    violations.check(!request.userId.isEmpty, "user_id", "is required")
    violations.check(
      (1...1000).contains(request.reason.count) && !request.reason.allSatisfy(\.isWhitespace), "reason",
      "must be 1 to 1000 characters, not only spaces")
    try violations.throwIfAny()
    let actor = try context.principal()
    let before = try await user(request.userId)
    switch before.sellerStatus {
    case .rejected: return .with { $0.user = before }
    case .pending: break
    case .unspecified, .approved, .unrecognized:
      throw CommerceError.invalidTransition(from: before.sellerStatus.protoName, to: CommerceV1.SellerStatus.rejected.protoName)
    }
    let after = try await auth.rejectSellerApplication(
      .with {
        $0.userId = request.userId
        $0.expectedVersion = before.version
      }
    ).user ?? before
    try await audit(
      actor: actor, action: "RejectSeller", kind: Self.userKind, target: after.userId, reason: request.reason,
      attributes: ["previousSellerStatus": before.sellerStatus.protoName, "businessName": before.businessName])
    return .with { $0.user = after }
  }

  // MARK: Moderation

  public func moderateReview(request: CommerceV1.ModerateReviewRequest, context: ServerContext) async throws
    -> CommerceV1.ModerateReviewResponse
  {
    var violations = FieldViolations()
    violations.check(!request.reviewId.isEmpty, "review_id", "is required")
    switch request.action {
    case .publish: violations.checkLength(request.reason, "reason", 0...1000)
    case .hide, .delete:
      violations.check(
        (1...1000).contains(request.reason.count) && !request.reason.allSatisfy(\.isWhitespace), "reason",
        "must be 1 to 1000 characters for HIDE and DELETE")
    case .unspecified, .unrecognized: violations.add("action", "must be PUBLISH, HIDE or DELETE")
    }
    try violations.throwIfAny()
    let actor = try context.principal()
    if request.action == .delete {
      let deleted = try await reviews.deleteReview(.with { $0.reviewId = request.reviewId }).deleted
      if deleted {
        try await audit(actor: actor, action: "ModerateReview", kind: Self.reviewKind, target: request.reviewId, reason: request.reason,
          attributes: ["action": request.action.protoName])
      }
      return .init()
    }
    // A hidden review reads NOT_FOUND to this identity: then it was hidden (or is unknown, which
    // SetReviewStatus reports).
    let before: CommerceV1.Review?
    do {
      before = try await reviews.getReview(.with { $0.reviewId = request.reviewId }).review
    } catch let error as RPCError where error.code == .notFound {
      before = nil
    }
    let status: CommerceV1.ReviewStatus = request.action == .hide ? .hidden : .published
    let after = try await reviews.setReviewStatus(
      .with {
        $0.reviewId = request.reviewId
        $0.status = status
        $0.moderationNote = request.action == .hide ? request.reason : ""
      }
    ).review
    let previous = before?.status ?? .hidden
    if previous != status {
      try await audit(
        actor: actor, action: "ModerateReview", kind: Self.reviewKind, target: request.reviewId, reason: request.reason,
        attributes: ["action": request.action.protoName, "previousStatus": previous.protoName])
    }
    return .with { $0.review = after }
  }

  // MARK: Dashboard

  public func getDashboard(request: CommerceV1.GetDashboardRequest, context: ServerContext) async throws -> CommerceV1.GetDashboardResponse {
    let asked = now()
    let end = request.windowEndTime?.date ?? asked
    let start = request.windowStartTime?.date ?? end.addingTimeInterval(-86_400)
    let window = try StatsWindow(
      .with {
        $0.startTime = .init(start)
        $0.endTime = .init(end)
      }, field: request.windowStartTime == nil ? "window_end_time" : "window_start_time")
    return try await dashboard.figures(for: request, now: asked) {
      try await dashboardFigures(window)
    }
  }

  /// The dashboard's figures, each from the service that owns the data, asked in parallel.
  private func dashboardFigures(_ window: StatsWindow) async throws -> CommerceV1.GetDashboardResponse {
    async let orderStats = orders.getOrderStats(.with { $0.window = window.message; $0.topProducts = 10 })
    async let paymentStats = payments.getPaymentStats(.with { $0.window = window.message })
    async let userStats = auth.getUserStats(.with { $0.window = window.message })
    async let stock = catalog.getStockAlerts(.with { $0.threshold = 5; $0.maxResults = 20 })
    async let supportStats = support.getSupportStats(.init())
    let (o, p, u, s, t) = try await (orderStats, paymentStats, userStats, stock, supportStats)
    return .with {
      $0.windowStartTime = .init(window.start)
      $0.windowEndTime = .init(window.end)
      $0.computeTime = .init(now())
      $0.ordersPlaced = o.ordersPlaced
      $0.ordersByStatus = o.ordersByStatus
      $0.grossRevenue = o.grossRevenue
      $0.averageOrderValue = o.averageOrderValue
      $0.failedCheckouts = o.failedCheckouts
      $0.salesByDay = o.salesByDay
      $0.topProducts = o.topProducts
      $0.refunds = p.refunds
      $0.paymentDeclines = p.paymentDeclines
      $0.activeUsers = u.activeUsers
      $0.newUsers = u.newUsers
      $0.pendingSellerApplications = u.pendingSellerApplications
      $0.openTickets = t.openTickets
      $0.openReturns = t.openReturns
      $0.lowStockProducts = s.lowStockProducts
      $0.stockAlerts = s.alerts
    }
  }

  // MARK: Operations

  public func reindexCatalog(request: CommerceV1.ReindexCatalogRequest, context: ServerContext) async throws
    -> CommerceV1.ReindexCatalogResponse
  {
    let actor = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: actor.description, method: CommerceV1.AdminService.ReindexCatalog.descriptor, key: request.idempotencyKey, request: request)
    return try await idempotency.run(call) {
      let record = AdminStore.OperationRecord(id: UUID(), kind: .reindexCatalog, requestedBy: actor.subject, createdAt: now())
      let job: CommerceV1.SearchReindexJob?
      do {
        job = try await catalog.startSearchReindex(.with { $0.jobId = record.id.lowercasedString }).job
      } catch let error as RPCError where error.code == .failedPrecondition {
        let running = error.commerceMetadata["runningJobId"] ?? ""
        throw CommerceError(
          .failedPrecondition, .invalidStateTransition, "a catalog reindex is already running", metadata: ["operationId": running])
      }
      try await store.pool.withTransaction { tx in
        try await store.insert(record, in: tx)
        try await store.insert(auditRecord(actor: actor, action: "ReindexCatalog", kind: Self.operationKind, target: record.id.lowercasedString), in: tx)
      }
      let operation = Self.operation(record, job: job, now: now())
      return .with { $0.operation = operation }
    }
  }

  public func getOperation(request: CommerceV1.GetOperationRequest, context: ServerContext) async throws -> CommerceV1.GetOperationResponse {
    guard !request.operationId.isEmpty else { throw CommerceError.invalidArgument(field: "operation_id", "is required") }
    guard let id = UUID(id: request.operationId), let record = try await store.operation(id) else {
      throw CommerceError.notFound("operation", request.operationId)
    }
    let job: CommerceV1.SearchReindexJob?
    do {
      job = try await catalog.getSearchReindexJob(.with { $0.jobId = id.lowercasedString }).job
    } catch let error as RPCError where error.code == .notFound {
      job = nil
    }
    let operation = Self.operation(record, job: job, now: now())
    return .with { $0.operation = operation }
  }

  /// The contract's operation of a record and the catalog's job behind it (nil: not started).
  static func operation(_ record: AdminStore.OperationRecord, job: CommerceV1.SearchReindexJob?, now: Date) -> CommerceV1.AdminOperation {
    .with {
      $0.operationId = record.id.lowercasedString
      $0.kind = record.kind
      $0.requestedByUserId = record.requestedBy
      $0.createTime = .init(record.createdAt)
      $0.updateTime = .init(record.createdAt)
      guard let job else {
        $0.state = .pending
        return
      }
      let total = max(job.totalCount, 0)
      let processed = min(max(job.processedCount, 0), total)
      $0.progressMessage = "\(processed) of \(total) products"
      if let start = job.startTime { $0.updateTime = start }
      switch job.state {
      case .succeeded:
        $0.state = .succeeded
        $0.progressPercent = 100
      case .failed:
        $0.state = .failed
        $0.progressPercent = total == 0 ? 0 : Int32(processed * 100 / total)
        $0.errorCode = Int32(RPCStatusCode.internal.rawValue)
        $0.errorMessage = job.errorMessage
      case .running, .unspecified, .unrecognized:
        $0.state = .running
        $0.progressPercent = total == 0 ? 0 : Int32(min(99, processed * 100 / total))
      }
      if let finish = job.finishTime, $0.state == .succeeded || $0.state == .failed {
        $0.finishTime = finish
        $0.updateTime = finish
      }
    }
  }

  // MARK: Audit log

  public func listAuditEvents(request: CommerceV1.ListAuditEventsRequest, context: ServerContext) async throws
    -> CommerceV1.ListAuditEventsResponse
  {
    let size = try PageToken.pageSize(request.pageSize, default: 50, maximum: 200)
    let minTime = request.minCreateTime.map(\.date)
    let maxTime = request.maxCreateTime.map(\.date)
    if let minTime, let maxTime, maxTime < minTime {
      throw CommerceError.invalidArgument(field: "max_create_time", "must not be before min_create_time")
    }
    let binding = PageToken.binding(
      "ListAuditEvents",
      [
        request.actorUserId, request.targetId, minTime.map { "\($0.timeIntervalSince1970)" } ?? "",
        maxTime.map { "\($0.timeIntervalSince1970)" } ?? "",
      ])
    var before: Int64?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 1) {
      guard let seq = Int64(position[0]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      before = seq
    }
    let filter = AdminStore.AuditFilter(
      actorUserID: request.actorUserId.isEmpty ? nil : request.actorUserId, targetID: request.targetId.isEmpty ? nil : request.targetId,
      minCreatedAt: minTime, maxCreatedAt: maxTime)
    let rows = try await store.auditPage(filter, beforeSeq: before, limit: size + 1)
    let page = rows.prefix(size)
    return .with {
      $0.auditEvents = page.map(\.message)
      if rows.count > size, let last = page.last { $0.nextPageToken = PageToken.make(["\(last.seq)"], binding: binding) }
    }
  }

  // MARK: Helpers

  /// The account, read from AuthService (NOT_FOUND passes through).
  private func user(_ id: String) async throws -> CommerceV1.User {
    guard let user = try await auth.getUser(.with { $0.userId = id }).user else { throw CommerceError.notFound("user", id) }
    return user
  }

  private func auditRecord(
    actor: Principal, action: String, kind: String, target: String, reason: String = "", attributes: [String: String] = [:]
  ) -> AdminStore.AuditRecord {
    AdminStore.AuditRecord(
      id: UUID(), actorUserID: actor.subject, action: action, targetKind: kind, targetID: target, reason: reason, attributes: attributes,
      createdAt: now())
  }

  /// Records one change that the owning service made.
  private func audit(
    actor: Principal, action: String, kind: String, target: String, reason: String, attributes: [String: String]
  ) async throws {
    let record = auditRecord(actor: actor, action: action, kind: kind, target: target, reason: reason, attributes: attributes)
    try await store.pool.withTransaction { tx in _ = try await store.insert(record, in: tx) }
    logger.info("admin change", metadata: ["action": "\(action)", "target": "\(target)", "by": "\(actor.subject)"])
  }
}

extension ProtoEnum {
  /// The proto name of the value, for example "USER_STATUS_ACTIVE" (audit attributes).
  var protoName: String { Self.protoValueNames[rawValue] ?? String(rawValue) }
}
