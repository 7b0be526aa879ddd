import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

/// Wishlists: add, remove, list with keyset paging, the 500-product limit, and moving products
/// between the wishlist and the cart.
@Suite("CartService wishlists")
struct WishlistTests {
  /// Fills a user's wishlist to its limit with products the catalog does not know.
  static func fill(_ h: CartHarness, userID: String, count: Int) async throws {
    try await h.pool.query("INSERT INTO cart.wishlists (user_id, item_count) VALUES ($1, $2)", [userID, Int32(count)])
    try await h.pool.query(
      """
      INSERT INTO cart.wishlist_items (user_id, product_id, price_at_add_minor, currency, added_at)
      SELECT $1, 'filler-' || n, 100, 'USD', now() FROM generate_series(1, $2) AS n
      """, [userID, Int64(count)])
  }

  @Test("add, list newest first, remove; adding twice returns the existing item")
  func addListRemove() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let products = try await h.products(5)
      var items: [CommerceV1.WishlistItem] = []
      for product in products {
        items.append(try await h.cart.addWishlistItem(.with { $0.productId = product.productId }, options: user).item!)
      }
      #expect(items[0].product?.title == "Item 0" && items[0].priceAtAdd == CartHarness.usd(1000))
      let again = try await h.cart.addWishlistItem(.with { $0.productId = products[0].productId }, options: user).item!
      #expect(again == items[0])

      // Pages of two, newest first, each product once.
      var seen: [String] = []
      var token = ""
      var pages = 0
      repeat {
        let page = try await h.cart.getWishlist(
          .with {
            $0.pageSize = 2
            $0.pageToken = token
          }, options: user)
        #expect(page.totalCount == 5)
        seen += page.items.map(\.productId)
        token = page.nextPageToken
        pages += 1
      } while !token.isEmpty
      #expect(seen == products.reversed().map(\.productId))
      #expect(pages == 3)
      let all = try await h.cart.getWishlist(.init(), options: user)
      #expect(all.items.count == 5 && all.nextPageToken.isEmpty)

      // A page token is bound to its user; a negative page size is refused.
      let first = try await h.cart.getWishlist(.with { $0.pageSize = 1 }, options: user)
      let (_, other) = try await h.customer()
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.cart.getWishlist(.with { $0.pageToken = first.nextPageToken }, options: other)
      }
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.cart.getWishlist(.with { $0.pageToken = "garbage" }, options: user)
      }
      await expectFailure(.invalidArgument) { try await h.cart.getWishlist(.with { $0.pageSize = -1 }, options: user) }
      #expect(try await h.cart.getWishlist(.init(), options: other).items.isEmpty)

      #expect(try await h.cart.removeWishlistItem(.with { $0.productId = products[2].productId }, options: user).removed)
      #expect(try await !h.cart.removeWishlistItem(.with { $0.productId = products[2].productId }, options: user).removed)
      let after = try await h.cart.getWishlist(.init(), options: user)
      #expect(after.totalCount == 4 && !after.items.map(\.productId).contains(products[2].productId))
    }
  }

  @Test("AddWishlistItem: unknown and draft products are NOT_FOUND; the 501st product is WISHLIST_LIMIT")
  func addErrors() async throws {
    try await CartHarness.run { h in
      let (userID, user) = try await h.customer()
      await expectFailure(.notFound) {
        try await h.cart.addWishlistItem(.with { $0.productId = UUID().uuidString.lowercased() }, options: user)
      }
      let draft = try await h.product("Prototype", status: .draft)
      await expectFailure(.notFound) { try await h.cart.addWishlistItem(.with { $0.productId = draft.productId }, options: user) }
      await expectFailure(.invalidArgument) { try await h.cart.addWishlistItem(.init(), options: user) }

      try await Self.fill(h, userID: userID, count: 500)
      let product = try await h.product()
      await expectFailure(.failedPrecondition, reason: "WISHLIST_LIMIT") {
        try await h.cart.addWishlistItem(.with { $0.productId = product.productId }, options: user)
      }
      #expect(try await h.cart.getWishlist(.init(), options: user).totalCount == 500)
      // Products the catalog does not know still list, with only their id.
      let page = try await h.cart.getWishlist(.with { $0.pageSize = 200 }, options: user)
      #expect(page.items.count == 200 && page.items[0].product?.productId == page.items[0].productId && page.items[0].product?.title.isEmpty == true)
      // The schema holds the limit too.
      await #expect(throws: PostgresError.self) {
        try await h.pool.query("UPDATE cart.wishlists SET item_count = 501 WHERE user_id = $1", [userID])
      }
    }
  }

  @Test("wishlist methods are for signed-in users: guests UNAUTHENTICATED, services PERMISSION_DENIED")
  func access() async throws {
    try await CartHarness.run { h in
      let product = try await h.product()
      let service = try await h.service("orders")
      for options in [CallOptions(), service] {
        let code: RPCStatusCode = options.metadata["authorization"] == nil ? .unauthenticated : .permissionDenied
        await expectFailure(code) { try await h.cart.getWishlist(.init(), options: options) }
        await expectFailure(code) { try await h.cart.addWishlistItem(.with { $0.productId = product.productId }, options: options) }
        await expectFailure(code) { try await h.cart.removeWishlistItem(.with { $0.productId = product.productId }, options: options) }
        await expectFailure(code) { try await h.cart.moveToCart(.with { $0.productId = product.productId }, options: options) }
        await expectFailure(code) { try await h.cart.moveToWishlist(.with { $0.productId = product.productId }, options: options) }
      }
    }
  }

  @Test("MoveToCart moves a product from the wishlist to the cart in one step, and only once")
  func moveToCart() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let product = try await h.product(price: 1500)
      _ = try await h.cart.addWishlistItem(.with { $0.productId = product.productId }, options: user)
      let moved = try await h.cart.moveToCart(
        .with {
          $0.productId = product.productId
          $0.quantity = 2
        }, options: user
      ).cart!
      #expect(moved.quantities == [product.productId: 2] && moved.version == 1)
      #expect(try await h.cart.getWishlist(.init(), options: user).totalCount == 0)
      // Repeating it adds nothing.
      let repeated = try await h.cart.moveToCart(
        .with {
          $0.productId = product.productId
          $0.quantity = 2
        }, options: user
      ).cart!
      #expect(repeated == moved)
      // Neither on the wishlist nor in the cart.
      let other = try await h.product("Other")
      await expectFailure(.notFound) { try await h.cart.moveToCart(.with { $0.productId = other.productId }, options: user) }
      // A product that cannot be bought stays on the wishlist.
      _ = try await h.cart.addWishlistItem(.with { $0.productId = other.productId }, options: user)
      try await h.archive(other)
      await expectFailure(.failedPrecondition, reason: "PRODUCT_NOT_PURCHASABLE") {
        try await h.cart.moveToCart(.with { $0.productId = other.productId }, options: user)
      }
      #expect(try await h.cart.getWishlist(.init(), options: user).items.map(\.productId) == [other.productId])
      // Limits as for AddCartItem, wishlist unchanged.
      let third = try await h.product("Third")
      _ = try await h.cart.addWishlistItem(.with { $0.productId = third.productId }, options: user)
      try await h.add(third, quantity: 98, as: user)
      await expectFailure(.failedPrecondition, reason: "CART_LIMIT") {
        try await h.cart.moveToCart(
          .with {
            $0.productId = third.productId
            $0.quantity = 2
          }, options: user)
      }
      #expect(try await h.cart.getWishlist(.init(), options: user).totalCount == 2)
    }
  }

  @Test("MoveToWishlist saves a cart line for later in one step; a full wishlist leaves the cart as it was")
  func moveToWishlist() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let products = try await h.products(2)
      try await h.add(products[0], quantity: 3, as: user)
      try await h.add(products[1], as: user)
      let moved = try await h.cart.moveToWishlist(.with { $0.productId = products[0].productId }, options: user)
      #expect(moved.cart?.items.map(\.productId) == [products[1].productId] && moved.cart?.version == 3)
      #expect(moved.item?.productId == products[0].productId && moved.item?.product?.title == "Item 0")
      #expect(try await h.cart.getWishlist(.init(), options: user).items.map(\.productId) == [products[0].productId])
      let repeated = try await h.cart.moveToWishlist(.with { $0.productId = products[0].productId }, options: user)
      #expect(repeated.cart == moved.cart && repeated.item == moved.item)
      let unknown = try await h.product("Elsewhere")
      await expectFailure(.notFound) { try await h.cart.moveToWishlist(.with { $0.productId = unknown.productId }, options: user) }

      let (fullID, full) = try await h.customer()
      try await h.add(products[1], as: full)
      try await Self.fill(h, userID: fullID, count: 500)
      await expectFailure(.failedPrecondition, reason: "WISHLIST_LIMIT") {
        try await h.cart.moveToWishlist(.with { $0.productId = products[1].productId }, options: full)
      }
      #expect(try await h.get(as: full).quantities == [products[1].productId: 1])
    }
  }
}
