import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceCart

/// Carts through the server: guest and user carts, every cart method, its errors and access
/// rules, prices re-read from the catalog, idempotency and expiry.
@Suite("CartService carts")
struct CartServiceTests {
  @Test("a guest's first add creates a guest cart whose id works as a bearer secret")
  func guestCart() async throws {
    try await CartHarness.run { h in
      let empty = try await h.get()
      #expect(empty.cartId.isEmpty && empty.items.isEmpty && empty.version == 0 && empty.createTime == nil)
      let product = try await h.product(price: 1250)
      let created = try await h.add(product, quantity: 2)
      let id = created.cartId
      #expect(id.utf8.count == 43)
      #expect(created.userId.isEmpty)
      #expect(created.version == 1)
      #expect(created.items.map(\.quantity) == [2])
      #expect(created.subtotal == CartHarness.usd(2500))
      #expect(created.totalQuantity == 2)
      let update = try #require(created.updateTime).date
      #expect(try #require(created.expireTime).seconds == Int64(update.addingTimeInterval(30 * 86400).timeIntervalSince1970))

      let again = try await h.add(product, quantity: 3, guest: id)
      #expect(again.cartId == id && again.version == 2 && again.items.map(\.quantity) == [5])
      let read = try await h.get(guest: id)
      #expect(read == again)
      // Another guest's first add makes another cart.
      let other = try await h.add(product)
      #expect(other.cartId != id)
      // Unknown, malformed and foreign-looking ids are all NOT_FOUND.
      let unknown = GuestCartToken.generate().text
      for guest in [unknown, "not-a-cart", UUID().uuidString.lowercased()] {
        await expectFailure(.notFound) { try await h.get(guest: guest) }
        await expectFailure(.notFound) { try await h.add(product, guest: guest) }
        await expectFailure(.notFound) {
          try await h.cart.updateCartItem(.with {
            $0.guestCartId = guest
            $0.productId = product.productId
            $0.quantity = 1
          })
        }
        await expectFailure(.notFound) {
          try await h.cart.removeCartItem(.with {
            $0.guestCartId = guest
            $0.productId = product.productId
          })
        }
        await expectFailure(.notFound) { try await h.cart.clearCart(.with { $0.guestCartId = guest }) }
      }
      let error = await expectFailure(.notFound) { try await h.get(guest: unknown) }
      #expect(error?.message.contains(unknown) == false)
      // Nothing is stored in clear: the database holds the id's hash.
      let stored = try await h.pool.query("SELECT count(*) FROM cart.carts WHERE guest_token_hash = $1", [GuestCartToken(text: id)!.hash])
      #expect(try stored.scalar(as: Int64.self) == 1)
    }
  }

  @Test("a user has one persistent cart, created by the first add; guest_cart_id must then be empty")
  func userCart() async throws {
    try await CartHarness.run { h in
      let (userID, user) = try await h.customer()
      let empty = try await h.get(as: user)
      #expect(empty.cartId.isEmpty && empty.userId == userID && empty.version == 0 && empty.items.isEmpty)
      #expect(empty.subtotal == CartHarness.usd(0))
      let product = try await h.product()
      let added = try await h.add(product, as: user)
      #expect(added.userId == userID && !added.cartId.isEmpty && added.version == 1 && added.expireTime == nil)
      #expect(try await h.get(as: user) == added)
      // Another user sees their own (empty) cart.
      let (_, other) = try await h.customer()
      #expect(try await h.get(as: other).items.isEmpty)
      // A guest id beside a user's token is refused.
      let guest = try await h.add(product).cartId
      let error = await expectFailure(.invalidArgument) { try await h.get(guest: guest, as: user) }
      #expect(error?.invalidFields == ["guest_cart_id"])
      await expectFailure(.invalidArgument) { try await h.add(product, guest: guest, as: user) }
      // A service acting for the user reaches the user's cart (OrderService at checkout).
      let forUser = try await h.get(as: try await h.service("orders", onBehalfOf: user))
      #expect(forUser == added)
    }
  }

  @Test("AddCartItem: unknown product, draft or archived product, no stock, quantities and limits")
  func addErrors() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      await expectFailure(.notFound) {
        try await h.cart.addCartItem(.with { $0.productId = UUID().uuidString.lowercased() }, options: user)
      }
      await expectFailure(.notFound) { try await h.cart.addCartItem(.with { $0.productId = "nonsense" }, options: user) }
      let missing = await expectFailure(.invalidArgument) { try await h.cart.addCartItem(.init(), options: user) }
      #expect(missing?.invalidFields == ["product_id"])
      let draft = try await h.product("Prototype", status: .draft)
      let error = await expectFailure(.failedPrecondition, reason: "PRODUCT_NOT_PURCHASABLE") { try await h.add(draft, as: user) }
      #expect(error?.commerceMetadata["productId"] == draft.productId)
      let archived = try await h.product("Old model")
      try await h.archive(archived)
      await expectFailure(.failedPrecondition, reason: "PRODUCT_NOT_PURCHASABLE") { try await h.add(archived, as: user) }
      let soldOut = try await h.product("Sold out")
      try await h.setStock(soldOut, available: 0, version: 1)
      #expect(await eventually { (try? await h.service.catalogSnapshot([soldOut.productId])[soldOut.productId]?.summary.inStock) == false })
      await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await h.add(soldOut, as: user) }
      // Nothing was stored by the failures.
      #expect(try await h.get(as: user).version == 0)

      let product = try await h.product()
      await expectFailure(.invalidArgument) { try await h.add(product, quantity: -1, as: user) }
      await expectFailure(.failedPrecondition, reason: "CART_LIMIT") { try await h.add(product, quantity: 100, as: user) }
      #expect(try await h.add(product, quantity: 0, as: user).quantities[product.productId] == 1)
      try await h.add(product, quantity: 97, as: user)
      await expectFailure(.failedPrecondition, reason: "CART_LIMIT") { try await h.add(product, quantity: 2, as: user) }
      let full = try await h.add(product, quantity: 1, as: user)
      #expect(full.quantities[product.productId] == 99 && full.version == 3)
    }
  }

  @Test("a cart holds at most 100 lines")
  func lineLimit() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let products = try await h.products(101)
      for product in products.prefix(100) { try await h.add(product, as: user) }
      let error = await expectFailure(.failedPrecondition, reason: "CART_LIMIT") { try await h.add(products[100], as: user) }
      #expect(error?.commerceMetadata["limit"] == "100")
      let cart = try await h.get(as: user)
      #expect(cart.items.count == 100 && cart.version == 100)
      #expect(cart.items.map(\.productId) == products.prefix(100).map(\.productId))
      // More units on an existing line still fit.
      #expect(try await h.add(products[0], as: user).quantities[products[0].productId] == 2)
    }
  }

  @Test("UpdateCartItem sets a quantity, 0 removes the line; RemoveCartItem is idempotent")
  func updateAndRemove() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let first = try await h.product("First")
      let second = try await h.product("Second")
      let guest = try await h.add(first).cartId
      for (guestID, options) in [("", user), (guest, CallOptions())] {
        if guestID.isEmpty { try await h.add(first, as: options) }
        try await h.add(second, guest: guestID, as: options)
        func update(_ product: CommerceV1.Product, _ quantity: Int32) async throws -> CommerceV1.Cart {
          try await h.cart.updateCartItem(
            .with {
              $0.guestCartId = guestID
              $0.productId = product.productId
              $0.quantity = quantity
            }, options: options
          ).cart!
        }
        func remove(_ product: CommerceV1.Product) async throws -> CommerceV1.Cart {
          try await h.cart.removeCartItem(
            .with {
              $0.guestCartId = guestID
              $0.productId = product.productId
            }, options: options
          ).cart!
        }
        let set = try await update(first, 7)
        #expect(set.quantities == [first.productId: 7, second.productId: 1] && set.version == 3)
        #expect(try await update(first, 7).version == 3)  // the same quantity changes nothing
        await expectFailure(.failedPrecondition, reason: "CART_LIMIT") { try await update(first, 100) }
        await expectFailure(.invalidArgument) { try await update(first, -1) }
        let removedByZero = try await update(first, 0)
        #expect(removedByZero.quantities == [second.productId: 1] && removedByZero.version == 4)
        await expectFailure(.notFound) { try await update(first, 1) }
        let removed = try await remove(second)
        #expect(removed.items.isEmpty && removed.version == 5)
        let again = try await remove(second)
        #expect(again == removed)
      }
      // A user without a cart: removing succeeds with an empty cart, updating finds no line.
      let (_, fresh) = try await h.customer()
      #expect(try await h.cart.removeCartItem(.with { $0.productId = first.productId }, options: fresh).cart!.version == 0)
      await expectFailure(.notFound) {
        try await h.cart.updateCartItem(
          .with {
            $0.productId = first.productId
            $0.quantity = 2
          }, options: fresh)
      }
      // A guest without a cart id likewise.
      #expect(try await h.cart.removeCartItem(.with { $0.productId = first.productId }).cart!.cartId.isEmpty)
      await expectFailure(.notFound) {
        try await h.cart.updateCartItem(.with {
          $0.productId = first.productId
          $0.quantity = 2
        })
      }
    }
  }

  @Test("ClearCart: all or some lines, expected_version, and user_id only for OrderService")
  func clear() async throws {
    try await CartHarness.run { h in
      let (userID, user) = try await h.customer()
      let products = try await h.products(3)
      for product in products { try await h.add(product, as: user) }
      let stale = await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.cart.clearCart(.with { $0.expectedVersion = 2 }, options: user)
      }
      #expect(stale?.commerceMetadata["currentVersion"] == "3")
      let partial = try await h.cart.clearCart(
        .with {
          $0.productIds = [products[0].productId, "not-in-cart"]
          $0.expectedVersion = 3
        }, options: user
      ).cart!
      #expect(partial.items.map(\.productId) == [products[1].productId, products[2].productId] && partial.version == 4)

      // user_id is for the service identity "orders" only.
      await expectFailure(.permissionDenied) { try await h.cart.clearCart(.with { $0.userId = userID }, options: user) }
      await expectFailure(.permissionDenied) { try await h.cart.clearCart(.with { $0.userId = userID }) }
      await expectFailure(.permissionDenied) {
        try await h.cart.clearCart(.with { $0.userId = userID }, options: try await h.service("catalog"))
      }
      let orders = try await h.service("orders")
      let bought = try await h.cart.clearCart(
        .with {
          $0.userId = userID
          $0.productIds = [products[1].productId]
        }, options: orders
      ).cart!
      #expect(bought.userId == userID && bought.items.map(\.productId) == [products[2].productId])
      let cleared = try await h.cart.clearCart(.init(), options: user).cart!
      #expect(cleared.items.isEmpty && cleared.version == 6)
      #expect(try await h.cart.clearCart(.init(), options: user).cart!.version == 6)  // already empty: no change
      // A user without a cart, and a guest without one.
      let (_, fresh) = try await h.customer()
      #expect(try await h.cart.clearCart(.init(), options: fresh).cart!.items.isEmpty)
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.cart.clearCart(.with { $0.expectedVersion = 1 }, options: fresh)
      }
      #expect(try await h.cart.clearCart(.init()).cart!.cartId.isEmpty)
      // A guest clears their own cart.
      let guest = try await h.add(products[0]).cartId
      let guestCleared = try await h.cart.clearCart(.with { $0.guestCartId = guest }).cart!
      #expect(guestCleared.cartId == guest && guestCleared.items.isEmpty && guestCleared.version == 2)
    }
  }

  @Test("prices are re-read from the catalog: a changed price shows as unit_price beside price_at_add")
  func pricesFromCatalog() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let product = try await h.product(price: 1999)
      let other = try await h.product("Cable", price: 500)
      try await h.add(product, quantity: 2, as: user)
      try await h.add(other, as: user)
      _ = try await h.setPrice(product, 2499)
      let cart = try await h.get(as: user)
      let line = try #require(cart.items.first { $0.productId == product.productId })
      #expect(line.unitPrice == CartHarness.usd(2499))
      #expect(line.priceAtAdd == CartHarness.usd(1999))
      #expect(line.lineTotal == CartHarness.usd(4998))
      #expect(line.product?.price == CartHarness.usd(2499))
      #expect(line.product?.sellerName == "Acme Audio")
      #expect(cart.subtotal == CartHarness.usd(4998 + 500))
      // Adding more units keeps the first price at add.
      let more = try await h.add(product, as: user)
      #expect(more.items.first { $0.productId == product.productId }?.priceAtAdd == CartHarness.usd(1999))

      // Archived and sold-out products stay in the cart, unavailable and outside the subtotal.
      try await h.archive(other)
      let archived = try await h.get(as: user)
      #expect(archived.items.first { $0.productId == other.productId }?.available == false)
      #expect(archived.items.first { $0.productId == product.productId }?.available == true)
      #expect(archived.subtotal == CartHarness.usd(3 * 2499))
      #expect(archived.totalQuantity == 4)
      try await h.setStock(product, available: 0, version: 1)
      #expect(await eventually { (try? await h.get(as: user).items.first { $0.productId == product.productId }?.available) == false })
      #expect(try await h.get(as: user).subtotal == CartHarness.usd(0))
    }
  }

  @Test("AddCartItem with an idempotency key adds once; a reused key with another request is refused")
  func idempotency() async throws {
    try await CartHarness.run { h in
      let (_, user) = try await h.customer()
      let product = try await h.product()
      let key = UUID().uuidString
      let first = try await h.add(product, quantity: 2, key: key, as: user)
      let retry = try await h.add(product, quantity: 2, key: key, as: user)
      #expect(retry == first)
      #expect(try await h.get(as: user).quantities[product.productId] == 2)
      await expectFailure(.invalidArgument, reason: "IDEMPOTENCY_KEY_REUSED") { try await h.add(product, quantity: 3, key: key, as: user) }
      await expectFailure(.invalidArgument) { try await h.add(product, key: String(repeating: "k", count: 129), as: user) }
      // Another user may use the same key.
      let (_, other) = try await h.customer()
      #expect(try await h.add(product, quantity: 2, key: key, as: other).quantities[product.productId] == 2)

      // A guest's retried first add returns the same new cart, not a second one.
      let guestKey = UUID().uuidString
      let created = try await h.add(product, key: guestKey)
      let retried = try await h.add(product, key: guestKey)
      #expect(retried.cartId == created.cartId && retried.version == 1)
      let next = try await h.add(product, guest: created.cartId, key: guestKey)
      #expect(next.quantities[product.productId] == 2)
      #expect(try await h.add(product, guest: created.cartId, key: guestKey) == next)
      // A recorded failure is returned again.
      let soldOut = try await h.product("Sold out")
      try await h.setStock(soldOut, available: 0, version: 1)
      #expect(await eventually { (try? await h.service.catalogSnapshot([soldOut.productId])[soldOut.productId]?.summary.inStock) == false })
      let failedKey = UUID().uuidString
      await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await h.add(soldOut, key: failedKey, as: user) }
      try await h.setStock(soldOut, available: 5, version: 2)
      await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await h.add(soldOut, key: failedKey, as: user) }
    }
  }

  @Test("guest carts expire 30 days after their last change, and the sweeper deletes them")
  func expiry() async throws {
    try await CartHarness.run { h in
      let product = try await h.product()
      let kept = try await h.add(product).cartId
      let expired = try await h.add(product).cartId
      try await h.pool.query(
        "UPDATE cart.carts SET created_at = created_at - interval '31 days', updated_at = updated_at - interval '31 days' WHERE guest_token_hash = $1",
        [GuestCartToken(text: expired)!.hash])
      await expectFailure(.notFound) { try await h.get(guest: expired) }
      await expectFailure(.notFound) { try await h.add(product, guest: expired) }
      let (_, user) = try await h.customer()
      await expectFailure(.notFound) { try await h.cart.mergeCarts(.with { $0.guestCartId = expired }, options: user) }
      // (The background sweeper may have run first; either way the expired cart is gone.)
      _ = try await CartSweeper(service: h.service).sweep()
      #expect(try await h.pool.query("SELECT count(*) FROM cart.carts WHERE user_id IS NULL").scalar(as: Int64.self) == 1)
      #expect(try await h.get(guest: kept).items.count == 1)
    }
  }
}
