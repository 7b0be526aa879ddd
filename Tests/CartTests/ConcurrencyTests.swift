import CommerceAPI
import CommerceKit
import Foundation
import Messages
import RPC
@testable import CommerceCart
import Testing

/// Concurrent changes to one cart lose nothing.
@Suite("CartService concurrency")
struct ConcurrencyTests {
  @Test("20 concurrent adds of different products to one cart: all 20 lines, 20 versions")
  func differentProducts() async throws {
    try await CartHarness.run { h in
      let products = try await h.products(20)
      let (_, user) = try await h.customer()
      let guest = try await h.add(products[0]).cartId
      for (guestID, options) in [("", user), (guest, CallOptions())] {
        try await withThrowingTaskGroup(of: Void.self) { group in
          for product in products {
            group.addTask { try await h.add(product, guest: guestID, key: UUID().uuidString, as: options) }
          }
          try await group.waitForAll()
        }
        let cart = try await h.get(guest: guestID, as: options)
        #expect(Set(cart.items.map(\.productId)) == Set(products.map(\.productId)))
        #expect(cart.items.count == 20)
      }
      #expect(try await h.get(as: user).version == 20)
      #expect(try await h.get(guest: guest).quantities[products[0].productId] == 2)
      #expect(h.service.gate.heldCount == 0)
    }
  }

  @Test("concurrent adds of the same product sum correctly")
  func sameProduct() async throws {
    try await CartHarness.run { h in
      let product = try await h.product()
      let (_, user) = try await h.customer()
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<20 { group.addTask { try await h.add(product, quantity: 2, as: user) } }
        try await group.waitForAll()
      }
      let cart = try await h.get(as: user)
      #expect(cart.quantities == [product.productId: 40])
      #expect(cart.version == 20)
      // Past the limit, the adds that would exceed 99 fail and the others land.
      let results = try await withThrowingTaskGroup(of: Bool.self) { group in
        for _ in 0..<30 { group.addTask { (try? await h.add(product, quantity: 2, as: user)) != nil } }
        return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
      }
      #expect(results == 29)
      #expect(try await h.get(as: user).quantities[product.productId] == 98)
    }
  }
}
