public import CommerceAPI
public import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// CartService (cart.proto): guest and persistent carts, merging at login, and wishlists.
///
/// Handlers translate between the contract's messages and the domain; the rules that change
/// lines are pure (``CartRules``), all SQL is in `CartStore`, and the catalog is read only
/// through CatalogService.BatchGetProducts. Access rules are enforced by CommerceKit's
/// `AuthInterceptor`; handlers decide whose cart a call names.
///
/// Decisions the contract leaves to the server:
/// - Whose cart: the end user's (the calling user, or the user a calling service acts for)
///   when the call has one, else the guest cart named by guest_cart_id. ClearCart's user_id is
///   honoured for the service identity "orders" only.
/// - A guest cart id is 32 random bytes (43 characters of base64url); the database keeps only
///   its SHA-256, so a copy of the database opens no cart. Ids of the wrong shape, unknown,
///   expired (30 days after the last change) or merged carts all read as NOT_FOUND. A sweeper
///   deletes expired guest carts (merged ones 30 days after the merge, which keeps a repeated
///   MergeCarts idempotent until then) and idempotency keys older than 48 hours.
/// - A user's cart is created by the first change that adds a line; until then GetCart returns
///   an empty cart with an empty cart_id and version 0.
/// - Every change runs in one transaction under the cart's row lock (`SELECT ... FOR UPDATE`),
///   and the version goes up by one per change (a call that changes nothing keeps it).
///   MergeCarts locks the guest cart, then the user's; MoveToCart and MoveToWishlist lock the
///   cart, then the wishlist.
/// - The catalog is never called inside a transaction: a transaction holding a connection and
///   waiting for another (the catalog's, from the same pool) could exhaust the pool under load.
///   A change reads the catalog first, and the response is built from that snapshot; for
///   AddCartItem, whose response is stored with its idempotency key in the same transaction, a
///   cart that gained a product the snapshot lacks (a concurrent change from another process)
///   rolls back and runs again with a fresh snapshot that includes those products; after five
///   such attempts the call fails with ABORTED, which clients retry. Within a process,
///   ``CartGate`` queues changes to one cart before they take a connection, so this happens
///   only when several processes change one cart at once.
/// - Prices: lines show the catalog's current price as unit_price and keep price_at_add from
///   when they were first added; lines merged from a guest cart keep the guest line's price at
///   add and time. A line is available when its product is ACTIVE and in stock; unavailable
///   lines stay in the cart but not in the subtotal.
/// - Idempotency scope for AddCartItem: the user, or the guest cart; for a guest's first add
///   (no cart yet) the key alone, so such a key must be as unguessable as the random UUID
///   common.proto recommends: its recorded response holds the new cart's id.
/// - Wishlist entries are saved only for products customers can see: a draft reads as
///   NOT_FOUND in AddWishlistItem.
public struct CartService: CommerceV1.CartService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// The catalog's currency, in which subtotals are given.
    public var currency = "USD"
    /// How often expired guest carts and old idempotency keys are deleted.
    public var sweepInterval: Duration = .seconds(3600)

    public init() {}
  }

  let store: CartStore
  let idempotency: IdempotencyStore
  let catalog: CommerceV1.CatalogService.Client
  let configuration: Configuration
  let gate = CartGate()
  let logger: Logger
  let now: @Sendable () -> Date

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `cart` only (migrated beforehand).
  ///   - catalog: CatalogService, for products' prices, status and summaries.
  public init(
    pool: PostgresPool, catalog: any ClientTransport, configuration: Configuration = .init(),
    logger: Logger = Logger(label: "emporium.cart"), now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = CartStore(pool: pool)
    self.idempotency = IdempotencyStore(pool: pool, schema: "cart")
    self.catalog = CommerceV1.CatalogService.Client(catalog)
    self.configuration = configuration
    self.logger = logger
    self.now = now
  }

  /// The background work the process runs beside the handlers: the sweeper.
  public var backgroundServices: [any ServiceLifecycle.Service] { [CartSweeper(service: self)] }

  // MARK: Carts

  public func getCart(request: CommerceV1.GetCartRequest, context: ServerContext) async throws -> CommerceV1.GetCartResponse {
    let owner = try Self.owner(guestCartID: request.guestCartId)
    let record: CartRecord?
    switch owner {
    case .user(let userID): record = try await store.userCart(userID)
    case .guest(nil): record = nil
    case .guest(let token?):
      guard case .open(let found) = try await store.guestCart(hash: token.hash, now: now()) else { throw Self.guestCartNotFound }
      record = found
    }
    let cart = try await view(record, owner: owner)
    return .with { $0.cart = cart }
  }

  public func addCartItem(request: CommerceV1.AddCartItemRequest, context: ServerContext) async throws
    -> CommerceV1.AddCartItemResponse
  {
    let productID = request.productId
    let quantity = try Self.quantityToAdd(productID: productID, quantity: request.quantity)
    let requested = try Self.owner(guestCartID: request.guestCartId)
    let owner: CartOwner
    let key: CartStore.CartKey
    let scope: String
    let create: Bool
    switch requested {
    case .user(let userID):
      (owner, key, scope, create) = (requested, .user(userID), "user:\(userID)", true)
    case .guest(nil):
      // A guest's first add: a new cart with a new secret id.
      let token = GuestCartToken.generate()
      (owner, key, scope, create) = (.guest(token), .guest(hash: token.hash), "guest:new", true)
    case .guest(let token?):
      guard case .open(let cart) = try await store.guestCart(hash: token.hash, now: now()) else { throw Self.guestCartNotFound }
      (owner, key, scope, create) = (requested, .guest(hash: token.hash), "guest:\(cart.id.lowercasedString)", false)
    }
    let call = try IdempotencyStore.Call(
      optionalKey: request.idempotencyKey, scope: scope, method: CommerceV1.CartService.AddCartItem.descriptor, request: request)
    return try await gate.withLock(Self.gateKey(key)) {
      // Products a rolled-back attempt found in the cart beyond its snapshot.
      var seen: [String] = []
      for _ in 0..<5 {
        // The catalog is read before the transaction; the body checks that the snapshot still
        // covers every line it ends with.
        let current = try await storedLines(owner)
        let snapshot = try await catalogSnapshot(current.map(\.productID) + seen + [productID])
        let now = now()
        let body: @Sendable (PostgresTransaction) async throws -> CommerceV1.AddCartItemResponse = { tx in
          let entry = try snapshot.purchasable(productID, quantity: quantity)
          guard let locked = try await store.lockCart(key, create: create, now: now, in: tx) else { throw Self.guestCartNotFound }
          var lines = locked.record.lines
          try CartRules.add(productID, quantity: quantity, price: entry.price, at: now, to: &lines)
          let record = try await store.saveCart(locked, lines: lines, now: now, in: tx)
          guard snapshot.covers(record.lines.map(\.productID)) else { throw StaleSnapshot(productIDs: record.lines.map(\.productID)) }
          let cart = try view(record, owner: owner, catalog: snapshot)
          return .with { $0.cart = cart }
        }
        do {
          return try await idempotency.run(call) { tx in try await body(tx) }
        } catch let stale as StaleSnapshot {
          seen = stale.productIDs
        }
      }
      throw CommerceError(.aborted, nil, "the cart kept changing while it was read; retry", retryAfter: .milliseconds(100))
    }
  }

  public func updateCartItem(request: CommerceV1.UpdateCartItemRequest, context: ServerContext) async throws
    -> CommerceV1.UpdateCartItemResponse
  {
    var violations = FieldViolations()
    violations.check(!request.productId.isEmpty, "product_id", "is required")
    violations.check(request.quantity >= 0, "quantity", "must be 0 to \(CartRules.maximumQuantity)")
    try violations.throwIfAny()
    if request.quantity > CartRules.maximumQuantity {
      throw CartRules.quantityLimit(request.productId, quantity: Int64(request.quantity))
    }
    let owner = try Self.owner(guestCartID: request.guestCartId)
    let lineNotFound = CommerceError(.notFound, nil, "the cart has no line for product '\(request.productId)'")
    guard let key = owner.key else { throw lineNotFound }
    let record = try await gate.withLock(Self.gateKey(key)) {
      try await store.pool.withTransaction { tx in
        guard let locked = try await store.lockCart(key, create: false, now: now(), in: tx) else {
          throw owner.isGuest ? Self.guestCartNotFound : lineNotFound
        }
        var lines = locked.record.lines
        guard let index = lines.firstIndex(where: { $0.productID == request.productId }) else { throw lineNotFound }
        if request.quantity == 0 { lines.remove(at: index) } else { lines[index].quantity = request.quantity }
        return try await store.saveCart(locked, lines: lines, now: now(), in: tx)
      }
    }
    let cart = try await view(record, owner: owner)
    return .with { $0.cart = cart }
  }

  public func removeCartItem(request: CommerceV1.RemoveCartItemRequest, context: ServerContext) async throws
    -> CommerceV1.RemoveCartItemResponse
  {
    guard !request.productId.isEmpty else { throw CommerceError.invalidArgument(field: "product_id", "is required") }
    let owner = try Self.owner(guestCartID: request.guestCartId)
    guard let key = owner.key else {
      let cart = try await view(nil, owner: owner)
      return .with { $0.cart = cart }
    }
    let record = try await gate.withLock(Self.gateKey(key)) {
      try await store.pool.withTransaction { tx -> CartRecord? in
        guard let locked = try await store.lockCart(key, create: false, now: now(), in: tx) else {
          if owner.isGuest { throw Self.guestCartNotFound }
          return nil
        }
        let lines = locked.record.lines.filter { $0.productID != request.productId }
        return try await store.saveCart(locked, lines: lines, now: now(), in: tx)
      }
    }
    let cart = try await view(record, owner: owner)
    return .with { $0.cart = cart }
  }

  public func clearCart(request: CommerceV1.ClearCartRequest, context: ServerContext) async throws -> CommerceV1.ClearCartResponse {
    let owner: CartOwner
    if request.userId.isEmpty {
      owner = try Self.owner(guestCartID: request.guestCartId)
    } else {
      guard let caller = CallAuth.current?.principal, caller.kind == .service, caller.subject == Self.orderServiceName else {
        throw CommerceError.permissionDenied("only OrderService may clear another user's cart")
      }
      guard request.guestCartId.isEmpty else {
        throw CommerceError.invalidArgument(field: "guest_cart_id", "must be empty when user_id is set")
      }
      owner = .user(request.userId)
    }
    guard request.expectedVersion >= 0 else {
      throw CommerceError.invalidArgument(field: "expected_version", "must not be negative (0 skips the check)")
    }
    let removing = Set(request.productIds)
    let record: CartRecord?
    if let key = owner.key {
      record = try await gate.withLock(Self.gateKey(key)) {
        try await store.pool.withTransaction { tx -> CartRecord? in
          guard let locked = try await store.lockCart(key, create: false, now: now(), in: tx) else {
            if owner.isGuest { throw Self.guestCartNotFound }
            if request.expectedVersion != 0 { throw CommerceError.versionMismatch(current: 0) }
            return nil
          }
          if request.expectedVersion != 0, request.expectedVersion != locked.record.version {
            throw CommerceError.versionMismatch(current: locked.record.version)
          }
          let lines = removing.isEmpty ? [] : locked.record.lines.filter { !removing.contains($0.productID) }
          return try await store.saveCart(locked, lines: lines, now: now(), in: tx)
        }
      }
    } else {
      if request.expectedVersion != 0 { throw CommerceError.versionMismatch(current: 0) }
      record = nil
    }
    let cart = try await view(record, owner: owner)
    return .with { $0.cart = cart }
  }

  public func mergeCarts(request: CommerceV1.MergeCartsRequest, context: ServerContext) async throws -> CommerceV1.MergeCartsResponse {
    let user = try context.endUser()
    guard !request.guestCartId.isEmpty else { throw CommerceError.invalidArgument(field: "guest_cart_id", "is required") }
    guard let token = GuestCartToken(text: request.guestCartId) else { throw Self.guestCartNotFound }
    let userKey = CartStore.CartKey.user(user.subject)
    let guestKey = CartStore.CartKey.guest(hash: token.hash)
    // Guest first, then user: the order every caller that takes both uses.
    let (record, merge) = try await gate.withLocks(Self.gateKey(guestKey), Self.gateKey(userKey)) {
      try await store.pool.withTransaction { tx -> (CartRecord?, CartRules.Merge?) in
        let now = now()
        switch try await store.lockGuestCartForMerge(hash: token.hash, now: now, in: tx) {
        case .none: throw Self.guestCartNotFound
        case .merged(let into):
          guard into == user.subject else {
            throw CommerceError(.failedPrecondition, .guestCartMerged, "the guest cart was merged into another user's cart")
              .precondition(kind: "GUEST_CART_MERGED", subject: "cart", "the guest cart can no longer be used")
          }
          return (try await store.userCart(user.subject), nil)
        case .open(let guest):
          guard let target = try await store.lockCart(userKey, create: true, now: now, in: tx) else {
            throw CartStore.StoreError.corruptRow
          }
          let merge = CartRules.merge(guest: guest.lines, into: target.record.lines)
          let record = try await store.saveCart(target, lines: merge.lines, now: now, in: tx)
          try await store.markMerged(.init(record: guest, created: false), into: user.subject, now: now, in: tx)
          return (record, merge)
        }
      }
    }
    let cart = try await view(record, owner: .user(user.subject))
    return .with {
      $0.cart = cart
      $0.mergedLineCount = Int32(merge?.mergedLineCount ?? 0)
      $0.droppedProductIds = merge?.dropped ?? []
    }
  }

  // MARK: Wishlists

  public func getWishlist(request: CommerceV1.GetWishlistRequest, context: ServerContext) async throws
    -> CommerceV1.GetWishlistResponse
  {
    let user = try context.endUser()
    let size = try PageToken.pageSize(request.pageSize, default: 50, maximum: 200)
    let binding = PageToken.binding("GetWishlist", [user.subject])
    var after: Int64?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 1) {
      guard let sequence = Int64(position[0]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      after = sequence
    }
    let page = try await store.wishlistPage(user.subject, after: after, limit: size + 1)
    let entries = page.entries.prefix(size)
    let snapshot = try await catalogSnapshot(entries.map(\.productID))
    return .with {
      $0.items = entries.map { CartView.item($0, catalog: snapshot) }
      if page.entries.count > size, let last = entries.last {
        $0.nextPageToken = PageToken.make([String(last.sequence)], binding: binding)
      }
      $0.totalCount = page.total
    }
  }

  public func addWishlistItem(request: CommerceV1.AddWishlistItemRequest, context: ServerContext) async throws
    -> CommerceV1.AddWishlistItemResponse
  {
    let user = try context.endUser()
    guard !request.productId.isEmpty else { throw CommerceError.invalidArgument(field: "product_id", "is required") }
    let snapshot = try await catalogSnapshot([request.productId])
    guard let product = snapshot[request.productId], product.product.status != .draft else {
      throw CommerceError.notFound("product", request.productId)
    }
    let entry = try await store.pool.withTransaction { tx in
      let count = try await store.lockWishlist(user.subject, in: tx)
      if let existing = try await store.wishlistEntry(user.subject, product: request.productId, in: tx) { return existing }
      guard count < CartRules.maximumWishlistItems else { throw CartRules.wishlistLimit() }
      return try await store.insertWishlistEntry(user.subject, product: request.productId, price: product.price, now: now(), in: tx)
    }
    return .with { $0.item = CartView.item(entry, catalog: snapshot) }
  }

  public func removeWishlistItem(request: CommerceV1.RemoveWishlistItemRequest, context: ServerContext) async throws
    -> CommerceV1.RemoveWishlistItemResponse
  {
    let user = try context.endUser()
    guard !request.productId.isEmpty else { throw CommerceError.invalidArgument(field: "product_id", "is required") }
    let removed = try await store.pool.withTransaction { tx in
      try await store.lockWishlist(user.subject, in: tx)
      return try await store.deleteWishlistEntry(user.subject, product: request.productId, in: tx)
    }
    return .with { $0.removed = removed }
  }

  public func moveToCart(request: CommerceV1.MoveToCartRequest, context: ServerContext) async throws -> CommerceV1.MoveToCartResponse {
    let user = try context.endUser()
    let productID = request.productId
    let quantity = try Self.quantityToAdd(productID: productID, quantity: request.quantity)
    let key = CartStore.CartKey.user(user.subject)
    let owner = CartOwner.user(user.subject)
    let snapshot = try await catalogSnapshot([productID])
    let record = try await gate.withLock(Self.gateKey(key)) {
      try await store.pool.withTransaction { tx in
        let now = now()
        guard let cart = try await store.lockCart(key, create: true, now: now, in: tx) else { throw CartStore.StoreError.corruptRow }
        try await store.lockWishlist(user.subject, in: tx)
        guard try await store.wishlistEntry(user.subject, product: productID, in: tx) != nil else {
          if cart.record.lines.contains(where: { $0.productID == productID }) { return cart.record }
          throw CommerceError(.notFound, nil, "product '\(productID)' is neither on the wishlist nor in the cart")
        }
        let entry = try snapshot.purchasable(productID, quantity: quantity)
        var lines = cart.record.lines
        try CartRules.add(productID, quantity: quantity, price: entry.price, at: now, to: &lines)
        let record = try await store.saveCart(cart, lines: lines, now: now, in: tx)
        _ = try await store.deleteWishlistEntry(user.subject, product: productID, in: tx)
        return record
      }
    }
    let cart = try await view(record, owner: owner)
    return .with { $0.cart = cart }
  }

  public func moveToWishlist(request: CommerceV1.MoveToWishlistRequest, context: ServerContext) async throws
    -> CommerceV1.MoveToWishlistResponse
  {
    let user = try context.endUser()
    let productID = request.productId
    guard !productID.isEmpty else { throw CommerceError.invalidArgument(field: "product_id", "is required") }
    let key = CartStore.CartKey.user(user.subject)
    let owner = CartOwner.user(user.subject)
    let snapshot = try await catalogSnapshot([productID])
    let (record, entry) = try await gate.withLock(Self.gateKey(key)) {
      try await store.pool.withTransaction { tx -> (CartRecord?, WishlistEntry) in
        let now = now()
        let cart = try await store.lockCart(key, create: false, now: now, in: tx)
        let count = try await store.lockWishlist(user.subject, in: tx)
        let existing = try await store.wishlistEntry(user.subject, product: productID, in: tx)
        guard let cart, let line = cart.record.lines.first(where: { $0.productID == productID }) else {
          guard let existing else {
            throw CommerceError(.notFound, nil, "product '\(productID)' is neither in the cart nor on the wishlist")
          }
          return (cart?.record, existing)
        }
        var entry = existing
        if entry == nil {
          guard count < CartRules.maximumWishlistItems else { throw CartRules.wishlistLimit() }
          let price = snapshot[productID]?.price ?? line.priceAtAdd
          entry = try await store.insertWishlistEntry(user.subject, product: productID, price: price, now: now, in: tx)
        }
        let lines = cart.record.lines.filter { $0.productID != productID }
        return (try await store.saveCart(cart, lines: lines, now: now, in: tx), entry!)
      }
    }
    let cart = try await view(record, owner: owner)
    return .with {
      $0.cart = cart
      $0.item = CartView.item(entry, catalog: snapshot)
    }
  }

  // MARK: Helpers

  /// The service identity that may name a user in ClearCart.
  static let orderServiceName = "orders"

  /// NOT_FOUND for a guest cart id, without repeating the id (a secret) in the message.
  static let guestCartNotFound = CommerceError(.notFound, nil, "the guest cart does not exist, has expired or was merged")

  /// Whose cart a call names: the end user's when the call has one (guest_cart_id must then be
  /// empty), else the guest cart guest_cart_id names (nil: none given).
  static func owner(guestCartID: String) throws(CommerceError) -> CartOwner {
    if let user = CallAuth.current?.principal?.endUser {
      guard guestCartID.isEmpty else {
        throw .invalidArgument(field: "guest_cart_id", "must be empty when the call carries a user's access token")
      }
      return .user(user.subject)
    }
    if guestCartID.isEmpty { return .guest(nil) }
    guard let token = GuestCartToken(text: guestCartID) else { throw guestCartNotFound }
    return .guest(token)
  }

  /// The units an add asks for: 0 means 1; negative is INVALID_ARGUMENT, above 99 CART_LIMIT.
  static func quantityToAdd(productID: String, quantity: Int32) throws(CommerceError) -> Int32 {
    var violations = FieldViolations()
    violations.check(!productID.isEmpty, "product_id", "is required")
    violations.check(quantity >= 0, "quantity", "must be 1 to \(CartRules.maximumQuantity) (0 means 1)")
    try violations.throwIfAny()
    guard quantity <= CartRules.maximumQuantity else { throw CartRules.quantityLimit(productID, quantity: Int64(quantity)) }
    return max(1, quantity)
  }

  /// The gate's key of a cart.
  static func gateKey(_ key: CartStore.CartKey) -> String {
    switch key {
    case .user(let id): "user:" + id
    case .guest(let hash): "guest:" + Data(hash).base64EncodedString()
    }
  }

  /// The lines the owner's cart holds now, read without a lock.
  private func storedLines(_ owner: CartOwner) async throws -> [CartLine] {
    switch owner {
    case .user(let userID): return try await store.userCart(userID)?.lines ?? []
    case .guest(nil): return []
    case .guest(let token?):
      guard case .open(let record) = try await store.guestCart(hash: token.hash, now: now()) else { return [] }
      return record.lines
    }
  }

  /// What the catalog says about these products now (BatchGetProducts, 100 ids per call).
  func catalogSnapshot(_ ids: some Sequence<String>) async throws -> CatalogSnapshot {
    var seen = Set<String>()
    let unique = ids.filter { seen.insert($0).inserted }
    var snapshot = CatalogSnapshot()
    for start in stride(from: 0, to: unique.count, by: 100) {
      let chunk = Array(unique[start..<min(start + 100, unique.count)])
      let response = try await catalog.batchGetProducts(.with { $0.productIds = chunk })
      for (index, product) in response.products.enumerated() {
        let summary =
          index < response.summaries.count
          ? response.summaries[index]
          : .with {
            $0.productId = product.productId
            $0.title = product.title
            $0.price = product.price ?? .init()
            $0.inStock = true
          }
        snapshot.entries[product.productId] = CatalogEntry(product: product, summary: summary)
      }
      snapshot.missing.formUnion(response.missingProductIds)
      // Ids the catalog neither returned nor listed as missing are missing too.
      for id in chunk where snapshot.entries[id] == nil { snapshot.missing.insert(id) }
    }
    return snapshot
  }

  /// The cart message for a stored cart (nil: none stored yet), with the catalog's data for
  /// its lines read now.
  private func view(_ record: CartRecord?, owner: CartOwner) async throws -> CommerceV1.Cart {
    let snapshot = try await catalogSnapshot(record?.lines.map(\.productID) ?? [])
    return try view(record, owner: owner, catalog: snapshot)
  }

  private func view(_ record: CartRecord?, owner: CartOwner, catalog: CatalogSnapshot) throws(CommerceError) -> CommerceV1.Cart {
    try CartView.cart(record, cartID: owner.cartID(record), userID: owner.userID, catalog: catalog, currency: configuration.currency)
  }
}

/// Whose cart a call names.
enum CartOwner: Sendable {
  /// A user's persistent cart.
  case user(String)
  /// A guest cart, by its secret id; nil when the call named none.
  case guest(GuestCartToken?)

  /// The store's key of the cart, when the call names one.
  var key: CartStore.CartKey? {
    switch self {
    case .user(let id): .user(id)
    case .guest(let token): token.map { .guest(hash: $0.hash) }
    }
  }

  var isGuest: Bool {
    if case .guest = self { return true }
    return false
  }

  var userID: String? {
    if case .user(let id) = self { return id }
    return nil
  }

  /// Cart.cart_id: the guest's secret id, the stored user cart's id, or empty for a cart not
  /// stored yet.
  func cartID(_ record: CartRecord?) -> String {
    guard let record else { return "" }
    switch self {
    case .user: return record.id.lowercasedString
    case .guest(let token): return token?.text ?? ""
    }
  }
}

/// The catalog snapshot a change read no longer covers its cart: run the change again, reading
/// these products too.
struct StaleSnapshot: Error {
  var productIDs: [String]
}
