public import CommerceAPI
import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// ReviewService (reviews.proto): reviews by verified purchasers, sellers' replies, moderation,
/// and exact rating summaries that the catalog's search follows.
///
/// Handlers translate between the contract's messages and the domain; all SQL is in
/// `ReviewStore`. Products are known only through CatalogService.BatchGetProducts (existence,
/// seller), purchases only through OrderService.ListOrders (as the "reviews" identity, naming
/// the customer), authors' names only through AuthService.GetUser. Access rules are enforced by
/// CommerceKit's `AuthInterceptor`; handlers decide ownership.
///
/// Decisions the contract leaves to the server:
/// - Peers are never called inside a transaction: a call reads them first, then transacts.
/// - A verified purchase is an order of the author's in DELIVERED, RETURN_REQUESTED,
///   PARTIALLY_REFUNDED or REFUNDED with a line of the product; the newest such order is the
///   review's order_id. A returned and refunded unit still counts: the customer received it.
/// - Rating summaries are exact at once, not a few seconds late: every change of the published
///   set moves its product's counts in the same transaction, under that product's summary row
///   lock. The outbox relay (``SummaryRelay``) then sends the summary to
///   CatalogService.RecordRatingSummaries, so search trails by the relay's delay only.
/// - A product's existence is checked with the catalog only when it has no summary row (a
///   product that was ever reviewed exists).
/// - Moderation (SetReviewStatus) changes the version, as an edit does; a seller's reply does
///   not (reviews.proto, ReplyToReviewResponse).
/// - Idempotency scope for CreateReview: the author.
public struct ReviewService: CommerceV1.ReviewService.ServiceProtocol {
  let store: ReviewStore
  let idempotency: IdempotencyStore
  let catalog: CommerceV1.CatalogService.Client
  let orders: CommerceV1.OrderService.Client
  let names: AuthorNames
  let logger: Logger
  let now: @Sendable () -> Date

  /// The order statuses in which the customer has received the order's units.
  static let receivedStatuses: [CommerceV1.OrderStatus] = [.delivered, .returnRequested, .partiallyRefunded, .refunded]

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `reviews` only (migrated beforehand).
  ///   - catalog: CatalogService (products' existence and sellers, RecordRatingSummaries).
  ///   - orders: OrderService (verified purchases).
  ///   - auth: AuthService (authors' display names).
  public init(
    pool: PostgresPool, catalog: any ClientTransport, orders: any ClientTransport, auth: any ClientTransport,
    logger: Logger = Logger(label: "emporium.reviews"), now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = ReviewStore(pool: pool)
    self.idempotency = IdempotencyStore(pool: pool, schema: "reviews")
    self.catalog = CommerceV1.CatalogService.Client(catalog)
    self.orders = CommerceV1.OrderService.Client(orders)
    self.names = AuthorNames(auth: CommerceV1.AuthService.Client(auth))
    self.logger = logger
    self.now = now
  }

  /// The background work beside the handlers: the relay of rating summaries to the catalog,
  /// and the outbox's retention.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    [SummaryRelay(service: self), store.outbox.retention(pool: store.pool, logger: logger)]
  }

  // MARK: Writing

  public func createReview(request: CommerceV1.CreateReviewRequest, context: ServerContext) async throws -> CommerceV1.CreateReviewResponse {
    var violations = FieldViolations()
    violations.check(!request.productId.isEmpty, "product_id", "is required")
    Self.checkRating(Int(request.rating), &violations)
    Self.checkTitle(request.title, &violations)
    Self.checkBody(request.body, &violations)
    try violations.throwIfAny()
    let author = try context.endUser()
    let call = try IdempotencyStore.Call(
      scope: author.description, method: CommerceV1.ReviewService.CreateReview.descriptor, key: request.idempotencyKey, request: request)
    return try await idempotency.run(call) {
      try await requireProduct(request.productId)
      if let existing = try await store.review(author: author.subject, product: request.productId) {
        throw Self.reviewExists(existing.id)
      }
      guard let orderID = try await verifiedPurchase(customer: author.subject, product: request.productId) else {
        throw CommerceError.permissionDenied(
          "only customers who received the product may review it", reason: .notVerifiedPurchaser)
      }
      let at = now()
      let record = ReviewRecord(
        id: UUID(), seq: 0, productID: request.productId, authorID: author.subject, orderID: orderID, rating: Int(request.rating),
        title: request.title, body: request.body, hidden: false, moderationNote: "", reply: nil, createdAt: at, updatedAt: at, version: 1)
      let inserted = try await store.pool.withTransaction { tx in
        guard try await store.insert(record, in: tx) else { return false }
        try await store.moveCounts(product: record.productID, remove: nil, add: record.rating, in: tx)
        return true
      }
      guard inserted else {
        // A concurrent first review of the same author and product won the unique key.
        let existing = try await store.review(author: author.subject, product: request.productId)
        throw Self.reviewExists(existing?.id ?? record.id)
      }
      let review = try await message(try await store.review(record.id) ?? record)
      return .with { $0.review = review }
    }
  }

  public func updateReview(request: CommerceV1.UpdateReviewRequest, context: ServerContext) async throws -> CommerceV1.UpdateReviewResponse {
    var violations = FieldViolations()
    let values = request.review ?? .init()
    violations.check(!values.reviewId.isEmpty, "review.review_id", "is required")
    violations.check(!request.updatePaths.isEmpty, "update_paths", "must name at least one of rating, title and body")
    for (index, path) in request.updatePaths.enumerated() {
      switch path {
      case "rating": Self.checkRating(Int(values.rating), &violations, field: "review.rating")
      case "title": Self.checkTitle(values.title, &violations, field: "review.title")
      case "body": Self.checkBody(values.body, &violations, field: "review.body")
      default: violations.add("update_paths[\(index)]", "'\(path)' is not one of rating, title and body")
      }
    }
    violations.check(request.expectedVersion >= 1, "expected_version", "is required (versions start at 1)")
    try violations.throwIfAny()
    let id = try reviewID(values.reviewId)
    let updated = try await store.pool.withTransaction { tx in
      guard var review = try await store.lock(id, in: tx) else { throw CommerceError.notFound("review", values.reviewId) }
      try context.requireOwner(review.authorID, or: .notFound("review", values.reviewId))
      guard !review.hidden else { throw CommerceError.invalidTransition(from: "HIDDEN", to: "EDITED") }
      guard review.version == request.expectedVersion else { throw CommerceError.versionMismatch(current: review.version) }
      let before = review.rating
      let paths = Set(request.updatePaths)
      if paths.contains("rating") { review.rating = Int(values.rating) }
      if paths.contains("title") { review.title = values.title }
      if paths.contains("body") { review.body = values.body }
      review.version += 1
      review.updatedAt = now()
      review = try await store.update(review, in: tx)
      try await store.moveCounts(product: review.productID, remove: before, add: review.rating, in: tx)
      return review
    }
    let view = try await message(updated)
    return .with { $0.review = view }
  }

  public func deleteReview(request: CommerceV1.DeleteReviewRequest, context: ServerContext) async throws -> CommerceV1.DeleteReviewResponse {
    guard !request.reviewId.isEmpty else { throw CommerceError.invalidArgument(field: "review_id", "is required") }
    // An id that cannot be a review's names none: as for a deleted one, nothing to do.
    guard let id = UUID(id: request.reviewId) else { return .with { $0.deleted = false } }
    let deleted = try await store.pool.withTransaction { tx in
      guard let review = try await store.lock(id, in: tx) else { return false }
      try context.requireOwner(review.authorID, or: .notFound("review", request.reviewId))
      try await store.delete(id, in: tx)
      if !review.hidden { try await store.moveCounts(product: review.productID, remove: review.rating, add: nil, in: tx) }
      return true
    }
    return .with { $0.deleted = deleted }
  }

  public func replyToReview(request: CommerceV1.ReplyToReviewRequest, context: ServerContext) async throws -> CommerceV1.ReplyToReviewResponse {
    guard !request.reviewId.isEmpty else { throw CommerceError.invalidArgument(field: "review_id", "is required") }
    guard request.body.count <= 2000 else { throw CommerceError.invalidArgument(field: "body", "must be at most 2000 characters") }
    let caller = try context.principal()
    let id = try reviewID(request.reviewId)
    guard let read = try await store.review(id) else { throw CommerceError.notFound("review", request.reviewId) }
    if !caller.has(.admin) {
      let product = try await catalog.batchGetProducts(.with { $0.productIds = [read.productID] }).products.first
      guard product?.sellerId == caller.subject else { throw CommerceError.notFound("review", request.reviewId) }
    }
    let replied = try await store.pool.withTransaction { tx in
      guard var review = try await store.lock(id, in: tx) else { throw CommerceError.notFound("review", request.reviewId) }
      guard !review.hidden else { throw CommerceError.invalidTransition(from: "HIDDEN", to: "REPLIED") }
      let at = now()
      if request.body.isEmpty {
        review.reply = nil
      } else {
        review.reply = ReviewRecord.Reply(body: request.body, authorID: caller.subject, createdAt: review.reply?.createdAt ?? at, updatedAt: at)
      }
      return try await store.update(review, in: tx)
    }
    let view = try await message(replied)
    return .with { $0.review = view }
  }

  public func setReviewStatus(request: CommerceV1.SetReviewStatusRequest, context: ServerContext) async throws -> CommerceV1.SetReviewStatusResponse {
    var violations = FieldViolations()
    violations.check(!request.reviewId.isEmpty, "review_id", "is required")
    switch request.status {
    case .published: break
    case .hidden:
      violations.check((1...1000).contains(request.moderationNote.count), "moderation_note", "must be 1 to 1000 characters when hiding")
    case .unspecified, .unrecognized: violations.add("status", "must be PUBLISHED or HIDDEN")
    }
    try violations.throwIfAny()
    let id = try reviewID(request.reviewId)
    let hide = request.status == .hidden
    let moderated = try await store.pool.withTransaction { tx in
      guard var review = try await store.lock(id, in: tx) else { throw CommerceError.notFound("review", request.reviewId) }
      guard review.hidden != hide else { return review }
      review.hidden = hide
      review.moderationNote = hide ? request.moderationNote : ""
      review.version += 1
      review.updatedAt = now()
      review = try await store.update(review, in: tx)
      try await store.moveCounts(product: review.productID, remove: hide ? review.rating : nil, add: hide ? nil : review.rating, in: tx)
      return review
    }
    let view = try await message(moderated)
    return .with { $0.review = view }
  }

  // MARK: Reading

  public func getReview(request: CommerceV1.GetReviewRequest, context: ServerContext) async throws -> CommerceV1.GetReviewResponse {
    guard !request.reviewId.isEmpty else { throw CommerceError.invalidArgument(field: "review_id", "is required") }
    guard let id = UUID(id: request.reviewId), let review = try await store.review(id), Self.maySee(review) else {
      throw CommerceError.notFound("review", request.reviewId)
    }
    let view = try await message(review)
    return .with { $0.review = view }
  }

  public func listProductReviews(request: CommerceV1.ListProductReviewsRequest, context: ServerContext) async throws
    -> CommerceV1.ListProductReviewsResponse
  {
    var violations = FieldViolations()
    violations.check(!request.productId.isEmpty, "product_id", "is required")
    violations.check((0...5).contains(request.rating), "rating", "must be 0 (every rating) or 1 to 5")
    try violations.throwIfAny()
    let size = try PageToken.pageSize(request.pageSize, default: 20, maximum: 100)
    let order: ReviewStore.ListOrder
    switch request.sort {
    case .unspecified, .newest, .unrecognized: order = .newest
    case .highestRating: order = .highestRating
    case .lowestRating: order = .lowestRating
    }
    let binding = PageToken.binding("ListProductReviews", [request.productId, "\(order)", "\(request.rating)"])
    var after: (rating: Int, seq: Int64)?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 2) {
      guard let rating = Int(position[0]), let seq = Int64(position[1]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      after = (rating, seq)
    }
    if try await store.counts(products: [request.productId]).isEmpty { try await requireProduct(request.productId) }
    let rows = try await store.page(
      product: request.productId, order: order, rating: request.rating == 0 ? nil : Int(request.rating), after: after, limit: size + 1)
    let page = rows.prefix(size)
    let authorNames = try await names.names(of: page.map(\.authorID))
    return .with {
      $0.reviews = page.map { $0.message(authorName: authorNames[$0.authorID] ?? "") }
      if rows.count > size, let last = page.last {
        $0.nextPageToken = PageToken.make(["\(last.rating)", "\(last.seq)"], binding: binding)
      }
    }
  }

  public func getRatingSummary(request: CommerceV1.GetRatingSummaryRequest, context: ServerContext) async throws
    -> CommerceV1.GetRatingSummaryResponse
  {
    guard !request.productId.isEmpty else { throw CommerceError.invalidArgument(field: "product_id", "is required") }
    var counts = try await store.counts(products: [request.productId])[request.productId]
    if counts == nil {
      try await requireProduct(request.productId)
      counts = .empty
    }
    return .with { $0.summary = counts!.summary(productID: request.productId) }
  }

  // MARK: Helpers

  /// The contract's message of a review, with its author's display name now.
  private func message(_ review: ReviewRecord) async throws -> CommerceV1.Review {
    review.message(authorName: try await names.names(of: [review.authorID])[review.authorID] ?? "")
  }

  /// Whether the caller may see the review: anyone a published one; the author and ADMIN users
  /// a hidden one.
  static func maySee(_ review: ReviewRecord) -> Bool {
    guard review.hidden else { return true }
    guard let principal = CallAuth.current?.principal else { return false }
    return principal.has(.admin) || principal.endUser?.subject == review.authorID
  }

  private func reviewID(_ text: String) throws(CommerceError) -> UUID {
    guard let id = UUID(id: text) else { throw CommerceError.notFound("review", text) }
    return id
  }

  /// NOT_FOUND unless the catalog shows the product to the caller.
  private func requireProduct(_ productID: String) async throws {
    let response = try await catalog.batchGetProducts(.with { $0.productIds = [productID] })
    guard response.products.contains(where: { $0.productId == productID }) else { throw CommerceError.notFound("product", productID) }
  }

  /// The newest order of `customer` that delivered `product` to them, if any.
  func verifiedPurchase(customer: String, product: String) async throws -> String? {
    var token = ""
    repeat {
      let page = try await orders.listOrders(
        .with {
          $0.customerId = customer
          $0.statuses = Self.receivedStatuses
          $0.pageSize = 100
          $0.pageToken = token
        })
      if let order = page.orders.first(where: { $0.lines.contains { $0.productId == product } }) { return order.orderId }
      token = page.nextPageToken
    } while !token.isEmpty
    return nil
  }

  static func reviewExists(_ id: UUID) -> CommerceError {
    CommerceError(.alreadyExists, .reviewExists, "the caller already reviewed this product", metadata: ["reviewId": id.lowercasedString])
  }

  static func checkRating(_ rating: Int, _ violations: inout FieldViolations, field: String = "rating") {
    violations.check((1...5).contains(rating), field, "must be 1 to 5")
  }

  static func checkTitle(_ title: String, _ violations: inout FieldViolations, field: String = "title") {
    violations.check(
      (1...120).contains(title.count) && !title.allSatisfy(\.isWhitespace), field, "must be 1 to 120 characters, not only spaces")
  }

  static func checkBody(_ body: String, _ violations: inout FieldViolations, field: String = "body") {
    violations.check(body.count <= 5000, field, "must be at most 5000 characters")
  }
}
