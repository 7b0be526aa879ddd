public import CommerceAPI
public import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle
import Synchronization

/// CatalogService (catalog.proto): products, categories, search, product pages and
/// recommendations.
///
/// Handlers translate between the contract's messages and the domain; all SQL is in
/// `CatalogStore`. Access rules are enforced by CommerceKit's `AuthInterceptor`; handlers check
/// ownership (a seller's own products) and what the rules cannot (drafts are visible only to
/// their seller, admins and services).
///
/// Decisions the contract leaves to the server:
/// - Search reads `catalog.search_documents`, one row per active product, refreshed in the
///   transaction of every change (products, sellers' names, stock levels, rating summaries) and
///   rebuilt whole by a reindex job. See docs/CATALOG.md.
/// - Stock and ratings arrive from InventoryService and ReviewService through
///   RecordStockLevels and RecordRatingSummaries, sent by their outbox relays; a product whose
///   stock was never reported shows as in stock (Availability: "treat as in stock").
/// - Product pages come from a bounded in-process cache invalidated across processes by
///   NOTIFY (``ProductCache``).
/// - With a read replica (``ReadReplica``), searches, product pages the cache misses,
///   recommendations and list calls read from the replica, under its read-your-writes rule;
///   every write runs on the primary and marks its caller. See docs/DATABASE.md, "Read replicas".
/// - A seller's display name is the business name of their account (AuthService.GetUser),
///   copied when they first create a product and refreshed hourly after that.
/// - Recommendations come from counters the catalog keeps of confirmed orders (RecordPurchases,
///   sent by OrderService's outbox relay): ALSO_BOUGHT ranks pairs by cosine similarity with a
///   minimum support, TRENDING is units sold over 7 UTC days, SIMILAR is title trigram and
///   attribute similarity in the anchor's category, PERSONALIZED sums ALSO_BOUGHT over what the
///   user bought (and their own cart). See docs/CATALOG.md.
public struct CatalogService: CommerceV1.CatalogService.ServiceProtocol, RPCServiceImmediatePaths {
  public struct Configuration: Sendable {
    /// The catalog's one currency (catalog.proto).
    public var currency = "USD"
    /// The product cache's memory budget.
    public var cacheBudgetBytes = 64 << 20
    /// How long a cached product page may live without an invalidation.
    public var cacheTimeToLive: Duration = .seconds(60)
    /// The search result cache's memory budget (0 turns it off).
    public var searchCacheBudgetBytes = 16 << 20
    /// How long a search result may be served from the cache; catalog.proto lets search trail
    /// writes by a few seconds. Every change to the catalog also empties the cache (NOTIFY).
    public var searchCacheTimeToLive: Duration = .seconds(2)
    /// How old category product counts may get (catalog.proto: "as of a few seconds ago").
    public var categoryCountsMaximumAge: Duration = .seconds(5)
    /// How often a seller's profile is copied again from their account.
    public var sellerProfileMaximumAge: TimeInterval = 3600
    /// Products per batch of a reindex job.
    public var reindexBatchSize = 2000
    /// How long a reindex job's lease lasts without progress before another start may fail it.
    public var reindexLease: Duration = .seconds(120)
    /// ALSO_BOUGHT and PERSONALIZED count a pair only once bought together in this many orders.
    public var minimumPairSupport: Int64 = 2
    /// Pair counts of an order take its first this many products (most units first): an order
    /// of n products makes n * (n - 1) pair rows.
    public var purchasePairCap = 50
    /// TRENDING's window in days (UTC days, today included).
    public var trendingDays = 7

    public init() {}
  }

  let store: CatalogStore
  /// The process's read replica; nil reads everything from the primary.
  let replica: ReadReplica?
  let idempotency: IdempotencyStore
  let auth: CommerceV1.AuthService.Client
  /// CartService, for PERSONALIZED's cart; nil when the process has none.
  let cart: CommerceV1.CartService.Client?
  let configuration: Configuration
  let rules: ProductRules
  let cache: ProductCache<UUID, CatalogStore.ProductPage>
  let searchCache: ProductCache<[UInt8], CommerceV1.SearchProductsResponse>
  /// The payload of the last announcement this process's listener applied.
  let lastAnnouncementHandled = AnnouncementMark()
  let categoryCounts: CategoryCounts
  let reindexQueue: ReindexQueue
  let logger: Logger
  let now: @Sendable () -> Date

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `catalog` only (migrated beforehand).
  ///   - auth: AuthService, for sellers' accounts.
  ///   - cart: CartService, for a user's cart in PERSONALIZED recommendations.
  ///   - replica: a read replica of `pool`'s database for the reads it may serve; nil reads
  ///     everything from `pool`.
  public init(
    pool: PostgresPool, auth: any ClientTransport, cart: (any ClientTransport)? = nil, configuration: Configuration = .init(),
    logger: Logger = Logger(label: "emporium.catalog"), now: @escaping @Sendable () -> Date = Date.init,
    replica: ReadReplica? = nil
  ) {
    self.store = CatalogStore(pool: pool)
    self.replica = replica
    self.idempotency = IdempotencyStore(pool: pool, schema: "catalog")
    self.auth = CommerceV1.AuthService.Client(auth)
    self.cart = cart.map { CommerceV1.CartService.Client($0) }
    self.configuration = configuration
    self.rules = ProductRules(currency: configuration.currency)
    self.cache = ProductCache(budgetBytes: configuration.cacheBudgetBytes, timeToLive: configuration.cacheTimeToLive)
    self.searchCache = ProductCache(budgetBytes: configuration.searchCacheBudgetBytes, timeToLive: configuration.searchCacheTimeToLive)
    self.categoryCounts = CategoryCounts(maximumAge: configuration.categoryCountsMaximumAge)
    self.reindexQueue = ReindexQueue()
    self.logger = logger
    self.now = now
  }

  /// The background work the process runs beside the handlers: the cache's invalidation
  /// listener and the reindex worker.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    [CacheInvalidationListener(service: self), ReindexWorker(service: self)]
  }

  /// What the product cache has done (for benchmarks and operators).
  public var cacheStatistics: (hits: Int, misses: Int, entries: Int, bytes: Int) {
    let statistics = cache.statistics
    return (statistics.hits, statistics.misses, statistics.entries, statistics.bytes)
  }

  /// The payload of the last NOTIFY on the catalog's channel that this process applied to its
  /// caches. Announcements arrive in commit order, so once a payload sent now shows here, every
  /// change committed before it has reached the caches (tests wait on it instead of on time).
  public var lastAnnouncement: String? { lastAnnouncementHandled.payload.withLock { $0 } }

  /// What the search result cache has done (for benchmarks and operators).
  public var searchCacheStatistics: (hits: Int, misses: Int, entries: Int, bytes: Int) {
    let statistics = searchCache.statistics
    return (statistics.hits, statistics.misses, statistics.entries, statistics.bytes)
  }

  /// Forgets what this process cached about `products` (nil: everything) once a change to them
  /// committed, so its own callers read their writes at once; other processes hear of it
  /// through NOTIFY. Any change may change search results, so those are all forgotten.
  func forget(_ products: [UUID]?) {
    if let products {
      for id in products { cache.invalidate(id) }
    } else {
      cache.invalidate(nil)
    }
    searchCache.invalidate(nil)
  }

  /// Brings this process's caches up to a stock level applied here or announced by another
  /// process: a flip of the in-stock flag changes search results, so it is forgotten as any
  /// change; otherwise only the product's page shows it, patched in place (searches keep).
  func apply(_ level: CatalogStore.AppliedStockLevel) {
    if level.flipped {
      forget([level.product])
    } else {
      cache.update(level.product) { $0.withAvailable(level.available) }
    }
  }

  // MARK: Products

  public func createProduct(request: CommerceV1.CreateProductRequest, context: ServerContext) async throws
    -> CommerceV1.CreateProductResponse
  {
    try await write { try await create(request, context: context) }
  }

  private func create(_ request: CommerceV1.CreateProductRequest, context: ServerContext) async throws
    -> CommerceV1.CreateProductResponse
  {
    let caller = try context.principal()
    guard caller.kind == .user else { throw CommerceError.permissionDenied("only users create products") }
    let input = request.product ?? .init()
    var violations = FieldViolations()
    var mismatch = false
    rules.checkTitle(input.title, "product.title", &violations)
    rules.checkDetails(input.details, "product.details", &violations)
    let category = UUID(id: input.categoryId)
    violations.check(category != nil, "product.category_id", "must be a category id")
    let price = rules.price(input.price, "product.price", &violations, mismatch: &mismatch)
    var compareAt: Money?
    if let value = input.compareAtPrice {
      compareAt = rules.price(value, "product.compare_at_price", &violations, mismatch: &mismatch)
      if let compareAt, let price, compareAt.amountMinor <= price.amountMinor {
        violations.add("product.compare_at_price", "must be greater than price")
      }
    }
    rules.checkImageURLs(input.imageUrls, "product.image_urls", &violations)
    let attributes = rules.attributes(input.attributes, "product.attributes", &violations)
    rules.checkSKU(input.sku, "product.sku", &violations)
    let status: ProductRecord.Status
    switch input.status {
    case .unspecified, .draft: status = .draft
    case .active: status = .active
    default:
      status = .draft
      violations.add("product.status", "must be DRAFT or ACTIVE")
    }
    var sellerID: UUID?
    if input.sellerId.isEmpty || input.sellerId == caller.subject {
      sellerID = UUID(id: caller.subject)
      if input.sellerId.isEmpty, caller.has(.admin), !caller.has(.seller) {
        violations.add("product.seller_id", "is required when an admin creates a product for a seller")
      }
    } else if caller.has(.admin) {
      sellerID = UUID(id: input.sellerId)
      violations.check(sellerID != nil, "product.seller_id", "must be a user id")
    } else {
      violations.add("product.seller_id", "only admins may create products for another seller")
    }
    if !violations.isEmpty { throw CommerceError.invalidArgument(violations, reason: mismatch ? .currencyMismatch : nil) }
    guard let sellerID, let category, let price else { throw CommerceError.invalidArgument(violations) }
    try await ensureApprovedSeller(sellerID, caller: caller)

    let now = now()
    let product = ProductRecord(
      id: UUID(), sellerID: sellerID, title: input.title, details: input.details, categoryID: category, price: price,
      compareAtPrice: compareAt, imageURLs: input.imageUrls, attributes: attributes, sku: input.sku, status: status, version: 1,
      createdAt: now, updatedAt: now, archivedAt: nil)
    let create: @Sendable (PostgresTransaction) async throws -> CommerceV1.CreateProductResponse = { [store] tx in
      switch try await store.createProduct(product, in: tx) {
      case .created(let created): return .with { $0.product = created.proto }
      case .unknownCategory: throw CommerceError.notFound("category", input.categoryId)
      case .skuTaken:
        throw CommerceError(.alreadyExists, nil, "the seller already has a product with sku '\(input.sku)'", metadata: ["sku": input.sku])
      }
    }
    defer { forget([product.id]) }
    let call = try IdempotencyStore.Call(
      optionalKey: request.idempotencyKey, scope: caller.description, method: CommerceV1.CatalogService.CreateProduct.descriptor,
      request: request)
    return try await idempotency.run(call) { tx in try await create(tx) }
  }

  public func updateProduct(request: CommerceV1.UpdateProductRequest, context: ServerContext) async throws
    -> CommerceV1.UpdateProductResponse
  {
    let input = request.product ?? .init()
    var violations = FieldViolations()
    var mismatch = false
    if request.updatePaths.isEmpty { violations.add("update_paths", "must name at least one field") }
    for (index, path) in request.updatePaths.enumerated() where !ProductRules.updatablePaths.contains(path) {
      violations.add("update_paths[\(index)]", "'\(path)' is not a field UpdateProduct changes")
    }
    violations.check(request.expectedVersion >= 1, "expected_version", "is required (versions start at 1)")
    let paths = Set(request.updatePaths)
    if paths.contains("title") { rules.checkTitle(input.title, "product.title", &violations) }
    if paths.contains("details") { rules.checkDetails(input.details, "product.details", &violations) }
    let category = UUID(id: input.categoryId)
    if paths.contains("category_id") { violations.check(category != nil, "product.category_id", "must be a category id") }
    let price = paths.contains("price") ? rules.price(input.price, "product.price", &violations, mismatch: &mismatch) : nil
    var compareAt: Money?
    if paths.contains("compare_at_price"), let value = input.compareAtPrice {
      compareAt = rules.price(value, "product.compare_at_price", &violations, mismatch: &mismatch)
    }
    if paths.contains("image_urls") { rules.checkImageURLs(input.imageUrls, "product.image_urls", &violations) }
    let attributes = paths.contains("attributes") ? rules.attributes(input.attributes, "product.attributes", &violations) : []
    if paths.contains("sku") { rules.checkSKU(input.sku, "product.sku", &violations) }
    var status: ProductRecord.Status?
    if paths.contains("status") {
      status = ProductRecord.Status(input.status)
      violations.check(status != nil, "product.status", "must be DRAFT or ACTIVE")
    }
    if !violations.isEmpty { throw CommerceError.invalidArgument(violations, reason: mismatch ? .currencyMismatch : nil) }
    guard let id = UUID(id: input.productId) else { throw CommerceError.notFound("product", input.productId) }

    let auth = CallAuth.current
    let outcome = try await write {
      try await store.changeProduct(id, now: now()) { [status, compareAt] current in
        try Self.requireManager(of: current, auth, id: input.productId)
        guard current.version == request.expectedVersion else { throw CommerceError.versionMismatch(current: current.version) }
        guard current.status != .archived else {
          throw CommerceError.invalidTransition(from: "ARCHIVED", to: (status ?? .archived).rawValue)
        }
        var next = current
        if paths.contains("title") { next.title = input.title }
        if paths.contains("details") { next.details = input.details }
        if paths.contains("category_id"), let category { next.categoryID = category }
        if paths.contains("price"), let price { next.price = price }
        if paths.contains("compare_at_price") { next.compareAtPrice = compareAt }
        if paths.contains("image_urls") { next.imageURLs = input.imageUrls }
        if paths.contains("attributes") { next.attributes = attributes }
        if paths.contains("sku") { next.sku = input.sku }
        if let status {
          guard status != .archived else {
            throw CommerceError.invalidTransition(from: current.status.rawValue, to: "ARCHIVED")
              .precondition(kind: "INVALID_STATE_TRANSITION", subject: "product/\(input.productId)", "archive with ArchiveProduct")
          }
          next.status = status
        }
        if let compareAt = next.compareAtPrice, compareAt.amountMinor <= next.price.amountMinor {
          throw CommerceError.invalidArgument(field: "product.compare_at_price", "must be greater than price")
        }
        return next
      }
    }
    let product = try product(from: outcome, id: input.productId)
    return .with { $0.product = product.proto }
  }

  public func archiveProduct(request: CommerceV1.ArchiveProductRequest, context: ServerContext) async throws
    -> CommerceV1.ArchiveProductResponse
  {
    guard let id = UUID(id: request.productId) else { throw CommerceError.notFound("product", request.productId) }
    let auth = CallAuth.current
    let now = now()
    let outcome = try await write {
      try await store.changeProduct(id, now: now) { current in
        try Self.requireManager(of: current, auth, id: request.productId)
        if current.status == .archived { return nil }
        guard current.version == request.expectedVersion else { throw CommerceError.versionMismatch(current: current.version) }
        var next = current
        next.status = .archived
        next.archivedAt = max(now, current.updatedAt)
        return next
      }
    }
    let product = try product(from: outcome, id: request.productId)
    return .with { $0.product = product.proto }
  }

  /// The product a change left, or the error its outcome means; evicts it from this process's
  /// cache at once (other processes hear of it through NOTIFY).
  private func product(from outcome: CatalogStore.ChangeOutcome, id: String) throws(CommerceError) -> ProductRecord {
    switch outcome {
    case .changed(let product):
      forget([product.id])
      return product
    case .unchanged(let product): return product
    case .notFound: throw .notFound("product", id)
    case .unknownCategory: throw .notFound("category", "")
    case .skuTaken: throw CommerceError(.alreadyExists, nil, "the seller already has a product with this sku")
    }
  }

  /// Sellers manage their own products (holding ROLE_SELLER); admins and services any. Anyone
  /// else is told the product does not exist.
  static func requireManager(of product: ProductRecord, _ auth: CallAuth?, id: String) throws(CommerceError) {
    guard let auth, let principal = auth.principal else { throw .notFound("product", id) }
    switch auth.admission {
    case .role, .service: return
    case .anonymous, .anyUser, .owner:
      guard principal.kind == .user, principal.subject == product.sellerID.lowercasedString else { throw .notFound("product", id) }
      guard principal.has(.seller) else { throw .permissionDenied("managing products needs ROLE_SELLER") }
    }
  }

  /// Checks that `sellerID` may sell and keeps their public profile current.
  private func ensureApprovedSeller(_ sellerID: UUID, caller: Principal) async throws {
    let known = try await store.seller(sellerID)
    let fresh = known.map { now().timeIntervalSince($0.refreshedAt) < configuration.sellerProfileMaximumAge } ?? false
    let selfWithRole = caller.subject == sellerID.lowercasedString && caller.has(.seller)
    if selfWithRole && fresh { return }
    let user: CommerceV1.User
    do {
      user = try await auth.getUser(.with { $0.userId = sellerID.lowercasedString }).user ?? .init()
    } catch let error as RPCError where error.code == .notFound {
      if caller.subject == sellerID.lowercasedString { throw CommerceError.permissionDenied("only sellers create products") }
      throw CommerceError.notFound("seller", sellerID.lowercasedString)
    }
    let approved = user.sellerStatus == .approved && user.roles.contains(.seller) && user.status == .active
    if !approved && !selfWithRole {
      if caller.subject == sellerID.lowercasedString && user.sellerStatus != .pending && user.sellerStatus != .rejected {
        throw CommerceError.permissionDenied("only sellers create products")
      }
      throw CommerceError.permissionDenied("the seller application is not approved", reason: .sellerNotApproved)
        .precondition(kind: "SELLER_NOT_APPROVED", subject: "user/\(sellerID.lowercasedString)", "seller status \(user.sellerStatus)")
    }
    let name = user.businessName.isEmpty ? user.displayName : user.businessName
    try await store.saveSeller(id: sellerID, displayName: name.isEmpty ? "Seller" : name, now: now())
  }

  // MARK: Product pages

  public func getProduct(request: CommerceV1.GetProductRequest, context: ServerContext) async throws -> CommerceV1.GetProductResponse {
    guard let id = UUID(id: request.productId), let page = try await pages([id])[id], Self.mayView(page.product) else {
      throw CommerceError.notFound("product", request.productId)
    }
    return page.response
  }

  /// GetProduct's immediate path: a product page in the cache is answered on the event loop
  /// with the answer it keeps encoded, under the same visibility rule as
  /// ``getProduct(request:context:)``; the rest go to it.
  public func registerImmediatePaths(with router: inout RPCRouter) {
    router.addImmediatePath(CommerceV1.CatalogService.GetProduct.self, encodedResponse: { request, _ in
      guard let id = UUID(id: request.productId),
        let (bytes, visible) = cache.read(id, { page in page.encodedResponse.map { ($0, Self.mayView(page.product)) } }) ?? nil
      else { return nil }
      guard visible else { throw CommerceError.notFound("product", request.productId) }
      return bytes
    })
  }

  public func batchGetProducts(request: CommerceV1.BatchGetProductsRequest, context: ServerContext) async throws
    -> CommerceV1.BatchGetProductsResponse
  {
    guard request.productIds.count <= 100 else {
      throw CommerceError.invalidArgument(field: "product_ids", "must hold at most 100 ids")
    }
    var seen = Set<String>()
    let requested = request.productIds.filter { seen.insert($0).inserted }
    let found = try await pages(requested.compactMap(UUID.init(id:)))
    var response = CommerceV1.BatchGetProductsResponse()
    for id in requested {
      if let uuid = UUID(id: id), let page = found[uuid], Self.mayView(page.product) {
        response.products.append(page.response.product ?? page.product.proto)
        response.summaries.append(page.summary)
      } else {
        response.missingProductIds.append(id)
      }
    }
    return response
  }

  /// Product pages from the cache, the rest from the database (then cached).
  func pages(_ ids: [UUID]) async throws -> [UUID: CatalogStore.ProductPage] {
    var result: [UUID: CatalogStore.ProductPage] = [:]
    var missing: [UUID] = []
    for id in ids {
      if let page = cache.value(for: id) { result[id] = page } else { missing.append(id) }
    }
    guard !missing.isEmpty else { return result }
    let ticket = cache.ticket()
    let (reader, read) = await routedRead()
    let pages = try await reader.productPages(missing)
    let cacheable = mayCache(read)
    for (id, page) in pages {
      if cacheable {
        let kept = page.encoded()
        cache.store(id, kept, size: kept.approximateSize, ticket: ticket)
      }
      result[id] = page
    }
    return result
  }

  /// Drafts are visible to their seller, ADMIN users and services; other products to anyone.
  static func mayView(_ product: ProductRecord) -> Bool {
    guard product.status == .draft else { return true }
    guard let principal = CallAuth.current?.principal else { return false }
    return principal.kind == .service || principal.has(.admin) || principal.endUser?.subject == product.sellerID.lowercasedString
  }

  public func listSellerProducts(request: CommerceV1.ListSellerProductsRequest, context: ServerContext) async throws
    -> CommerceV1.ListSellerProductsResponse
  {
    let caller = try context.principal()
    let sellerText = request.sellerId.isEmpty ? (caller.endUser?.subject ?? "") : request.sellerId
    let isAdmin = caller.has(.admin) || caller.kind == .service
    guard let seller = UUID(id: sellerText), isAdmin || (caller.subject == sellerText && caller.has(.seller)) else {
      throw CommerceError.notFound("seller", sellerText)
    }
    var statuses: [String] = []
    for (index, status) in request.statuses.enumerated() {
      guard let known = ProductRecord.Status(status) else {
        throw CommerceError.invalidArgument(field: "statuses[\(index)]", "must be DRAFT, ACTIVE or ARCHIVED")
      }
      statuses.append(known.rawValue)
    }
    statuses = Array(Set(statuses)).sorted()
    let size = try PageToken.pageSize(request.pageSize, default: 50, maximum: 200)
    let binding = PageToken.binding("ListSellerProducts", [seller.lowercasedString] + statuses)
    let position = try PageToken.position(request.pageToken, binding: binding, count: 2)
    var after: (String, UUID)?
    if let position {
      guard let id = UUID(id: position[1]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      after = (position[0], id)
    }
    let rows = try await routedRead().store.sellerProducts(seller: seller, statuses: statuses, after: after, limit: size + 1)
    return .with {
      $0.products = rows.prefix(size).map(\.product.proto)
      if rows.count > size, let last = rows.prefix(size).last {
        $0.nextPageToken = PageToken.make([last.createdAtText, last.product.id.lowercasedString], binding: binding)
      }
    }
  }

  // MARK: Categories

  public func listCategories(request: CommerceV1.ListCategoriesRequest, context: ServerContext) async throws
    -> CommerceV1.ListCategoriesResponse
  {
    let store = await routedRead().store
    var parent: UUID?
    if !request.parentCategoryId.isEmpty {
      guard let id = UUID(id: request.parentCategoryId), try await store.categoryExists(id) else {
        throw CommerceError.notFound("category", request.parentCategoryId)
      }
      parent = id
    }
    let size = try PageToken.pageSize(request.pageSize, default: 500, maximum: 2000)
    let binding = PageToken.binding("ListCategories", [parent?.lowercasedString ?? "", String(request.childrenOnly)])
    // The position is the last category's sort path, one element per level.
    let after = try PageToken.position(request.pageToken, binding: binding, count: 1).map { $0[0].components(separatedBy: "\u{1E}") }
    let rows = try await store.categories(parent: parent, childrenOnly: request.childrenOnly, after: after, limit: size + 1)
    let counts = try await categoryCounts.current(store)
    return .with {
      $0.categories = rows.prefix(size).map { category, _ in
        var category = category
        category.productCount = counts[category.categoryId] ?? 0
        return category
      }
      if rows.count > size, let last = rows.prefix(size).last {
        $0.nextPageToken = PageToken.make([last.1.joined(separator: "\u{1E}")], binding: binding)
      }
    }
  }

  public func createCategory(request: CommerceV1.CreateCategoryRequest, context: ServerContext) async throws
    -> CommerceV1.CreateCategoryResponse
  {
    let caller = try context.principal()
    var violations = FieldViolations()
    violations.check(
      (1...100).contains(request.name.count) && !request.name.allSatisfy(\.isWhitespace), "name", "must be 1 to 100 characters")
    violations.check(Self.isSlug(request.slug), "slug", "must be 1 to 100 lower-case letters, digits and hyphens")
    var parent: UUID?
    if !request.parentCategoryId.isEmpty {
      parent = UUID(id: request.parentCategoryId)
      if parent == nil { throw CommerceError.notFound("category", request.parentCategoryId) }
    }
    try violations.throwIfAny()
    let create: @Sendable (PostgresTransaction) async throws -> CommerceV1.CreateCategoryResponse = { [store, parent] tx in
      switch try await store.createCategory(id: UUID(), parent: parent, name: request.name, slug: request.slug, in: tx) {
      case .created(let category): return .with { $0.category = category }
      case .unknownParent: throw CommerceError.notFound("category", request.parentCategoryId)
      case .slugTaken:
        throw CommerceError(.alreadyExists, nil, "the slug '\(request.slug)' is taken", metadata: ["slug": request.slug])
      case .tooDeep: throw CommerceError.invalidArgument(field: "parent_category_id", "the tree would become deeper than 6 levels")
      }
    }
    let call = try IdempotencyStore.Call(
      optionalKey: request.idempotencyKey, scope: caller.description, method: CommerceV1.CatalogService.CreateCategory.descriptor,
      request: request)
    return try await write { try await idempotency.run(call) { tx in try await create(tx) } }
  }

  static func isSlug(_ slug: String) -> Bool {
    let bytes = Array(slug.utf8)
    return (1...100).contains(bytes.count)
      && bytes.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
          || byte == UInt8(ascii: "-")
      }
  }

  // MARK: Search

  public func searchProducts(request: CommerceV1.SearchProductsRequest, context: ServerContext) async throws
    -> CommerceV1.SearchProductsResponse
  {
    let key = try request.serializedBytes()
    if let cached = searchCache.value(for: key) { return cached }
    let ticket = searchCache.ticket()
    let (reader, read) = await routedRead()
    let response = try await searchUncached(request, on: reader)
    if mayCache(read) {
      searchCache.store(key, response, size: 2 * key.count + 2 * ((try? response.serializedBytes().count) ?? 4096), ticket: ticket)
    }
    return response
  }

  /// A search run against the database (`reader`'s, by default the primary's).
  func searchUncached(_ request: CommerceV1.SearchProductsRequest, on reader: CatalogStore? = nil) async throws
    -> CommerceV1.SearchProductsResponse
  {
    let store = reader ?? self.store
    let (search, plan, criteria, correctedQuery) = try await plan(request, on: store)
    let binding = search.binding
    // The facets run beside the page, on a second connection.
    async let facetRows = request.includeFacets ? store.facets(plan) : []
    let page = try await store.search(plan)
    var count = page.count
    if count >= CatalogStore.SearchPlan.exactCountLimit { count = max(count, try await store.estimatedCount(plan)) }
    var response = CommerceV1.SearchProductsResponse()
    response.products = page.hits.prefix(search.pageSize).map(\.summary)
    if page.hits.count > search.pageSize, let last = page.hits.prefix(search.pageSize).last {
      response.nextPageToken = PageToken.make(last.position, binding: binding)
    }
    response.estimatedTotalCount = count
    response.correctedQuery = correctedQuery
    let rows = try await facetRows
    if request.includeFacets { response.facets = Self.facets(rows, criteria: criteria, currency: configuration.currency) }
    return response
  }

  /// The statements a search runs: the query corrected for typos (one round trip when it has
  /// words to check) and planned.
  func plan(_ request: CommerceV1.SearchProductsRequest, on reader: CatalogStore? = nil) async throws
    -> (SearchRequest, CatalogStore.SearchPlan, CatalogStore.SearchPlan.Criteria, correctedQuery: String)
  {
    let store = reader ?? self.store
    let search = try SearchRequest(request, currency: configuration.currency)
    var text = search.text
    var correctedQuery = ""
    var tsquery = text.tsquery
    if let query = tsquery {
      let words = request.exactMatchOnly ? [] : text.correctableWords
      let prepared = try await store.prepareQuery(query, words: words)
      if !prepared.hasLexemes {
        tsquery = nil  // only stop words: match as an empty query would
      } else {
        var corrections: [String: String] = [:]
        for (word, match) in zip(words, prepared.words) where !match.matches {
          if let fix = match.candidates.first(where: { $0 != word.word && SearchText.editDistance($0, word.word) <= 1 }) {
            corrections[word.word] = fix
          }
        }
        if !corrections.isEmpty {
          text = text.correcting(corrections)
          correctedQuery = text.display
          tsquery = text.tsquery
        }
      }
    }
    let criteria = search.criteria(tsquery: tsquery)
    let position = try PageToken.position(request.pageToken, binding: search.binding, count: criteria.sort.positionCount)
    return (search, CatalogStore.SearchPlan(criteria, after: position, limit: search.pageSize + 1), criteria, correctedQuery)
  }

  /// EXPLAIN (ANALYZE, BUFFERS) of the statements `request` runs (the page, and the facets when
  /// it asks for them), for operators and benchmarks.
  public func explainSearch(_ request: CommerceV1.SearchProductsRequest) async throws -> String {
    let (_, plan, _, _) = try await plan(request)
    var text = "-- page and count\n" + (try await store.explain(plan.pageSQL, plan.pageParameters))
    if request.includeFacets { text += "\n-- facets\n" + (try await store.explain(plan.facetSQL, plan.facetParameters)) }
    return text
  }

  /// One statement of a search and its parameters.
  public struct SearchStatement: Sendable {
    public var sql: String
    public var parameters: [any PostgresEncodable]
  }

  /// The statements `request` runs once its words are checked for typos, for benchmarks that
  /// replay a search's SQL without the service: the page with its count, then the facets when
  /// it asks for them (the service runs the two side by side); and a count of every match alone,
  /// the least a search that counts its matches when asked does.
  public func searchStatements(_ request: CommerceV1.SearchProductsRequest) async throws
    -> (page: SearchStatement, facets: SearchStatement?, countOnly: SearchStatement)
  {
    let (_, plan, _, _) = try await plan(request)
    return (
      SearchStatement(sql: plan.pageSQL, parameters: plan.pageParameters),
      request.includeFacets ? SearchStatement(sql: plan.facetSQL, parameters: plan.facetParameters) : nil,
      SearchStatement(sql: "SELECT count(*) FROM (\(plan.countSQL)) x", parameters: plan.countParameters)
    )
  }

  /// The facets message from the facet statement's rows.
  static func facets(_ rows: [CatalogStore.SearchPlan.FacetRow], criteria: CatalogStore.SearchPlan.Criteria, currency: String)
    -> CommerceV1.SearchFacets
  {
    var facets = CommerceV1.SearchFacets()
    var bands: [(index: Int, count: Int64)] = []
    var ratings: [Int32: Int64] = [:]
    var attributes = criteria.facetAttributeNames.map { name in CommerceV1.AttributeFacet.with { $0.name = name } }
    for row in rows {
      switch row.kind {
      case "category":
        facets.categories.append(.with {
          $0.value = row.key
          $0.label = row.label
          $0.count = row.count
        })
      case "price": if let index = Int(row.key) { bands.append((index, row.count)) }
      case "rating": if let minimum = Int32(row.key) { ratings[minimum] = row.count }
      case "in_stock": facets.inStockCount = row.count
      default:
        // A name asked for twice gets its values twice.
        if row.kind.hasPrefix("attribute=") {
          let name = row.kind.dropFirst("attribute=".count)
          for index in attributes.indices where attributes[index].name == name {
            attributes[index].values.append(.with {
              $0.value = row.label
              $0.label = row.label
              $0.count = row.count
            })
          }
        }
      }
    }
    facets.categories.sort { ($0.count, $1.value) > ($1.count, $0.value) }
    facets.priceBuckets = PriceBuckets.merge(bands, currency: currency)
    facets.ratingBuckets = ([4, 3, 2, 1] as [Int32]).map { minimum in
      .with {
        $0.minRating = minimum
        $0.count = ratings[minimum] ?? 0
      }
    }
    facets.attributes = attributes
    return facets
  }

  // MARK: Recommendations

  public func getRecommendations(request: CommerceV1.GetRecommendationsRequest, context: ServerContext) async throws
    -> CommerceV1.GetRecommendationsResponse
  {
    guard (0...50).contains(request.maxResults) else {
      throw CommerceError.invalidArgument(field: "max_results", "must be 0 (the default, 12) to 50")
    }
    let limit = request.maxResults == 0 ? 12 : Int(request.maxResults)
    switch request.anchor {
    case nil:
      throw CommerceError.invalidArgument(field: "anchor", "set product_id or user_id")
    case .productId(let text):
      let kind: CommerceV1.RecommendationKind = request.kind == .unspecified ? .alsoBought : request.kind
      guard [.alsoBought, .similar, .trending].contains(kind) else {
        throw CommerceError.invalidArgument(field: "kind", "must be ALSO_BOUGHT, SIMILAR or TRENDING for a product")
      }
      guard let id = UUID(id: text), let page = try await pages([id])[id], Self.mayView(page.product) else {
        throw CommerceError.notFound("product", text)
      }
      return try await recommendations(
        for: page.product, kind: kind, inStockOnly: request.inStockOnly, limit: limit, on: await routedRead().store)
    case .userId(let text):
      guard let caller = CallAuth.current?.principal else {
        throw CommerceError.unauthenticated("a user's recommendations need an access token")
      }
      let kind: CommerceV1.RecommendationKind = request.kind == .unspecified ? .personalized : request.kind
      let isSelf = caller.endUser?.subject == text
      guard isSelf || caller.has(.admin) else { throw CommerceError.permissionDenied("only the user and admins see their recommendations") }
      guard [.personalized, .trending].contains(kind) else {
        throw CommerceError.invalidArgument(field: "kind", "must be PERSONALIZED or TRENDING for a user")
      }
      guard let user = UUID(id: text) else { throw CommerceError.invalidArgument(field: "user_id", "must be a user id") }
      // The cart is the caller's own (CartService serves a cart to its owner).
      let seeds = isSelf && kind == .personalized ? await cartProducts() : []
      return try await recommendations(
        for: user, seeds: seeds, kind: kind, inStockOnly: request.inStockOnly, limit: limit, on: await routedRead().store)
    }
  }

  /// A product anchor's recommendations, falling back along ALSO_BOUGHT -> SIMILAR -> TRENDING
  /// while a kind finds nothing; TRENDING looks in the anchor's category (with descendants) and
  /// then everywhere.
  private func recommendations(
    for anchor: ProductRecord, kind: CommerceV1.RecommendationKind, inStockOnly: Bool, limit: Int, on store: CatalogStore
  ) async throws -> CommerceV1.GetRecommendationsResponse {
    if kind == .alsoBought {
      let found = try await store.recommend(
        CatalogStore.alsoBought(anchor.id, minimumSupport: configuration.minimumPairSupport, inStockOnly: inStockOnly, limit: limit))
      if !found.isEmpty { return Self.recommendations(found, .alsoBought) }
    }
    if kind == .alsoBought || kind == .similar {
      let attributes = anchor.attributes.map { $0.name.lowercased() + "=" + $0.value.lowercased() }
      let found = try await store.recommend(
        CatalogStore.similar(
          to: anchor.id, title: anchor.title, category: anchor.categoryID, attributes: attributes, inStockOnly: inStockOnly,
          limit: limit))
      if !found.isEmpty { return Self.recommendations(found, .similar) }
    }
    func trending(in category: UUID?) async throws -> [CommerceV1.ProductSummary] {
      try await store.recommend(
        CatalogStore.trending(
          since: trendingSince, category: category, excluding: [anchor.id], customer: nil, inStockOnly: inStockOnly, limit: limit))
    }
    let inCategory = try await trending(in: anchor.categoryID)
    return Self.recommendations(inCategory.isEmpty ? try await trending(in: nil) : inCategory, .trending)
  }

  /// A user's recommendations: PERSONALIZED, falling back to TRENDING when it finds nothing;
  /// neither suggests what the user bought.
  private func recommendations(
    for user: UUID, seeds: [UUID], kind: CommerceV1.RecommendationKind, inStockOnly: Bool, limit: Int, on store: CatalogStore
  ) async throws -> CommerceV1.GetRecommendationsResponse {
    if kind == .personalized {
      let found = try await store.recommend(
        CatalogStore.personalized(
          for: user, seeds: seeds, minimumSupport: configuration.minimumPairSupport, inStockOnly: inStockOnly, limit: limit))
      if !found.isEmpty { return Self.recommendations(found, .personalized) }
    }
    let found = try await store.recommend(
      CatalogStore.trending(since: trendingSince, category: nil, excluding: seeds, customer: user, inStockOnly: inStockOnly, limit: limit))
    return Self.recommendations(found, .trending)
  }

  /// The start of TRENDING's window: today and the days before it, `trendingDays` in all (UTC).
  private var trendingSince: Date { now().addingTimeInterval(-Double(configuration.trendingDays - 1) * 86_400) }

  private static func recommendations(_ products: [CommerceV1.ProductSummary], _ kind: CommerceV1.RecommendationKind)
    -> CommerceV1.GetRecommendationsResponse
  {
    .with {
      $0.products = products
      $0.appliedKind = kind
    }
  }

  /// The products in the calling user's cart, from CartService.GetCart on the user's behalf;
  /// none when the process has no CartService or it fails (recommendations then come from
  /// orders alone). The wishlist is not read: GetWishlist admits users only, not a service
  /// acting for one.
  private func cartProducts() async -> [UUID] {
    guard let cart else { return [] }
    do {
      let items = try await cart.getCart(.init()).cart?.items ?? []
      return Array(Set(items.compactMap { UUID(id: $0.productId) })).sorted { $0.uuidString < $1.uuidString }
    } catch {
      logger.debug("cart not read for recommendations", metadata: ["error": "\(error)"])
      return []
    }
  }

  public func recordPurchases(request: CommerceV1.RecordPurchasesRequest, context: ServerContext) async throws
    -> CommerceV1.RecordPurchasesResponse
  {
    var violations = FieldViolations()
    let order = UUID(id: request.orderId)
    violations.check(order != nil, "order_id", "must be an order id")
    let customer = UUID(id: request.customerId)
    violations.check(customer != nil, "customer_id", "must be a user id")
    violations.check(request.purchaseTime != nil, "purchase_time", "is required")
    violations.check((1...1000).contains(request.products.count), "products", "must hold 1 to 1000 products")
    var units: [UUID: Int64] = [:]
    for (index, line) in request.products.enumerated() {
      let id = UUID(id: line.productId)
      violations.check(id != nil, "products[\(index)].product_id", "must be a product id")
      violations.check(line.quantity >= 1, "products[\(index)].quantity", "must be at least 1")
      if let id, line.quantity >= 1 { units[id, default: 0] += Int64(line.quantity) }
    }
    try violations.throwIfAny()
    guard let order, let customer, let at = request.purchaseTime?.date else { throw CommerceError.invalidArgument(violations) }
    let recorded = try await write {
      try await store.recordPurchase(
      CatalogStore.Purchase(order: order, customer: customer, at: at, products: units.map { ($0.key, $0.value) }),
      pairCap: configuration.purchasePairCap)
    }
    return .with { $0.recorded = recorded }
  }

  // MARK: Stock and ratings

  public func getStockAlerts(request: CommerceV1.GetStockAlertsRequest, context: ServerContext) async throws
    -> CommerceV1.GetStockAlertsResponse
  {
    var violations = FieldViolations()
    violations.check(request.threshold >= 0, "threshold", "must not be negative")
    violations.check((0...100).contains(request.maxResults), "max_results", "must be 0 (for 20) to 100")
    try violations.throwIfAny()
    let found = try await routedRead().store.stockAlerts(
      threshold: request.threshold == 0 ? 5 : Int64(request.threshold), limit: request.maxResults == 0 ? 20 : Int(request.maxResults))
    return .with {
      $0.lowStockProducts = found.count
      $0.alerts = found.alerts.map { alert in
        .with {
          $0.productId = alert.product.lowercasedString
          $0.title = alert.title
          $0.sellerId = alert.sellerID
          $0.available = alert.available
        }
      }
    }
  }

  public func recordStockLevels(request: CommerceV1.RecordStockLevelsRequest, context: ServerContext) async throws
    -> CommerceV1.RecordStockLevelsResponse
  {
    var violations = FieldViolations()
    violations.check((1...500).contains(request.levels.count), "levels", "must hold 1 to 500 levels")
    var latest: [UUID: (available: Int64, version: Int64)] = [:]
    for (index, level) in request.levels.enumerated() {
      let id = UUID(id: level.productId)
      violations.check(id != nil, "levels[\(index)].product_id", "must be a product id")
      violations.check(level.availableQuantity >= 0, "levels[\(index)].available_quantity", "must not be negative")
      violations.check(level.version >= 1, "levels[\(index)].version", "must be at least 1")
      if let id, latest[id].map({ $0.version < level.version }) ?? true { latest[id] = (level.availableQuantity, level.version) }
    }
    try violations.throwIfAny()
    let applied = try await write {
      let applied = try await store.recordStockLevels(latest.map { ($0.key, $0.value.available, $0.value.version) })
      for level in applied { apply(level) }
      return applied
    }
    return .with { $0.appliedCount = Int32(applied.count) }
  }

  public func recordRatingSummaries(request: CommerceV1.RecordRatingSummariesRequest, context: ServerContext) async throws
    -> CommerceV1.RecordRatingSummariesResponse
  {
    var violations = FieldViolations()
    violations.check((1...500).contains(request.summaries.count), "summaries", "must hold 1 to 500 summaries")
    var latest: [UUID: CatalogStore.RatingUpdate] = [:]
    for (index, versioned) in request.summaries.enumerated() {
      let summary = versioned.summary ?? .init()
      let field = "summaries[\(index)]"
      let id = UUID(id: summary.productId)
      violations.check(id != nil, field + ".summary.product_id", "must be a product id")
      violations.check(summary.average == 0 || (1...5).contains(summary.average), field + ".summary.average", "must be 0 or 1 to 5")
      violations.check(summary.count >= 0, field + ".summary.count", "must not be negative")
      let histogram = summary.histogram.sorted { $0.rating < $1.rating }
      let valid =
        histogram.map(\.rating) == [1, 2, 3, 4, 5] && histogram.allSatisfy { $0.count >= 0 }
        && histogram.reduce(0) { $0 + $1.count } == summary.count
      violations.check(valid, field + ".summary.histogram", "must hold ratings 1 to 5 once each, adding up to count")
      violations.check(versioned.version >= 1, field + ".version", "must be at least 1")
      if let id, valid, latest[id].map({ $0.version < versioned.version }) ?? true {
        latest[id] = CatalogStore.RatingUpdate(
          product: id, average: summary.average, count: summary.count, histogram: histogram.map(\.count), version: versioned.version)
      }
    }
    try violations.throwIfAny()
    let changed = try await write {
      let changed = try await store.recordRatingSummaries(Array(latest.values))
      if !changed.isEmpty { forget(changed) }
      return changed
    }
    return .with { $0.appliedCount = Int32(changed.count) }
  }

  // MARK: Reindex

  public func startSearchReindex(request: CommerceV1.StartSearchReindexRequest, context: ServerContext) async throws
    -> CommerceV1.StartSearchReindexResponse
  {
    guard (1...128).contains(request.jobId.count) else {
      throw CommerceError.invalidArgument(field: "job_id", "must be 1 to 128 characters")
    }
    switch try await write({ try await store.startReindexJob(request.jobId, lease: configuration.reindexLease) }) {
    case .started(let job):
      logger.info("search reindex started", metadata: ["job_id": "\(job.id)", "products": "\(job.total)"])
      reindexQueue.submit(job.id)
      return .with { $0.job = job.proto }
    case .exists(let job):
      return .with { $0.job = job.proto }
    case .busy(let running):
      throw CommerceError(
        .failedPrecondition, .invalidStateTransition, "reindex job '\(running)' is running", metadata: ["runningJobId": running])
    }
  }

  public func getSearchReindexJob(request: CommerceV1.GetSearchReindexJobRequest, context: ServerContext) async throws
    -> CommerceV1.GetSearchReindexJobResponse
  {
    guard let job = try await store.reindexJob(request.jobId) else { throw CommerceError.notFound("reindex job", request.jobId) }
    return .with { $0.job = job.proto }
  }
}

/// Category product counts, recomputed when older than their maximum age.
final class CategoryCounts: Sendable {
  private let state = Mutex<(counts: [String: Int64], at: ContinuousClock.Instant?)>(([:], nil))
  let maximumAge: Duration

  init(maximumAge: Duration) { self.maximumAge = maximumAge }

  func current(_ store: CatalogStore) async throws -> [String: Int64] {
    let now = ContinuousClock.now
    if let cached = state.withLock({ state in state.at.map { now - $0 < maximumAge } == true ? state.counts : nil }) {
      return cached
    }
    let counts = try await store.categoryProductCounts()
    state.withLock { $0 = (counts, now) }
    return counts
  }
}
