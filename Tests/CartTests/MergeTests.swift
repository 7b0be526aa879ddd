import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import Testing

@testable import CommerceCart

/// MergeCarts: a guest cart merges into the user's cart at login, by the documented rule.
@Suite("CartService merge")
struct MergeTests {
  @Test("a guest cart merges at login: larger quantity wins, guest-only lines are added, the guest cart is gone")
  func mergeAtLogin() async throws {
    try await CartHarness.run { h in
      let products = try await h.products(3)
      let (a, b, c) = (products[0], products[1], products[2])
      let guest = try await h.add(a, quantity: 4).cartId
      try await h.add(b, quantity: 1, guest: guest)
      try await h.add(c, quantity: 2, guest: guest)
      // The user already has a and c in their cart from another device.
      let (userID, user) = try await h.customer()
      try await h.add(a, quantity: 1, as: user)
      try await h.add(c, quantity: 5, as: user)

      let merged = try await h.cart.mergeCarts(.with { $0.guestCartId = guest }, options: user)
      let cart = try #require(merged.cart)
      #expect(cart.userId == userID)
      #expect(cart.quantities == [a.productId: 4, b.productId: 1, c.productId: 5])
      #expect(cart.version == 3)
      #expect(merged.mergedLineCount == 2)
      #expect(merged.droppedProductIds.isEmpty)
      #expect(try await h.get(as: user) == cart)

      // The guest cart can no longer be used.
      await expectFailure(.notFound) { try await h.get(guest: guest) }
      await expectFailure(.notFound) { try await h.add(a, guest: guest) }
      // Merging again into the same user changes nothing; into another user is refused.
      let again = try await h.cart.mergeCarts(.with { $0.guestCartId = guest }, options: user)
      #expect(again.cart == cart && again.mergedLineCount == 0)
      let (_, other) = try await h.customer()
      await expectFailure(.failedPrecondition, reason: "GUEST_CART_MERGED") {
        try await h.cart.mergeCarts(.with { $0.guestCartId = guest }, options: other)
      }
    }
  }

  @Test("a user without a cart gets the guest's lines with their price at add")
  func mergeIntoNewCart() async throws {
    try await CartHarness.run { h in
      let product = try await h.product(price: 1000)
      let guestCart = try await h.add(product, quantity: 3)
      _ = try await h.setPrice(product, 1200)
      let (_, user) = try await h.customer()
      let merged = try await h.cart.mergeCarts(.with { $0.guestCartId = guestCart.cartId }, options: user)
      let line = try #require(merged.cart?.items.first)
      #expect(line.quantity == 3 && line.priceAtAdd == CartHarness.usd(1000) && line.unitPrice == CartHarness.usd(1200))
      #expect(line.addTime == guestCart.items[0].addTime)
      #expect(merged.cart?.version == 1 && merged.mergedLineCount == 1)
    }
  }

  @Test("guest lines that would exceed 100 lines are dropped, the last added first")
  func mergeDropsOverLimit() async throws {
    try await CartHarness.run { h in
      let products = try await h.products(101)
      let (_, user) = try await h.customer()
      for product in products.prefix(98) { try await h.add(product, as: user) }
      let guest = try await h.add(products[98]).cartId
      try await h.add(products[0], quantity: 5, guest: guest)
      try await h.add(products[99], guest: guest)
      try await h.add(products[100], guest: guest)
      let merged = try await h.cart.mergeCarts(.with { $0.guestCartId = guest }, options: user)
      #expect(merged.droppedProductIds == [products[100].productId])
      #expect(merged.mergedLineCount == 3)
      #expect(merged.cart?.items.count == 100)
      #expect(merged.cart?.quantities[products[0].productId] == 5)
    }
  }

  @Test("MergeCarts needs a user and a known guest cart")
  func mergeErrors() async throws {
    try await CartHarness.run { h in
      let product = try await h.product()
      let guest = try await h.add(product).cartId
      await expectFailure(.unauthenticated) { try await h.cart.mergeCarts(.with { $0.guestCartId = guest }) }
      await expectFailure(.permissionDenied) {
        try await h.cart.mergeCarts(.with { $0.guestCartId = guest }, options: try await h.service("orders"))
      }
      let (_, user) = try await h.customer()
      await expectFailure(.invalidArgument) { try await h.cart.mergeCarts(.init(), options: user) }
      await expectFailure(.notFound) {
        try await h.cart.mergeCarts(.with { $0.guestCartId = GuestCartToken.generate().text }, options: user)
      }
      await expectFailure(.notFound) { try await h.cart.mergeCarts(.with { $0.guestCartId = "junk" }, options: user) }
      // An empty guest cart merges into nothing and is used up all the same.
      _ = try await h.cart.clearCart(.with { $0.guestCartId = guest })
      let merged = try await h.cart.mergeCarts(.with { $0.guestCartId = guest }, options: user)
      #expect(merged.mergedLineCount == 0 && merged.cart?.items.isEmpty == true)
      await expectFailure(.notFound) { try await h.get(guest: guest) }
    }
  }
}
