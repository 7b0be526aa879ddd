import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceInventory

/// Stock changes reach the catalog through the outbox relay.
@Suite("InventoryService stock relay")
struct RelayTests {
  @Test("SetStock, reservations and their release reach the catalog's availability")
  func relay() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w1 = try await h.warehouse("One").warehouseId
      let w2 = try await h.warehouse("Two").warehouseId
      func catalogAvailable() async throws -> Int64? {
        try await h.catalog.getProduct(.with { $0.productId = a }).availability?.availableQuantity
      }
      try await h.stock(a, w1, onHand: 7)
      try await h.stock(a, w2, onHand: 5)
      #expect(try await eventually { try await catalogAvailable() == 12 })
      let reservation = try await h.reserve([(a, 10, "")])
      #expect(try await eventually { try await catalogAvailable() == 2 })
      _ = try await h.inventory.releaseReservation(.with { $0.reservationId = reservation.reservationId }, options: h.orders)
      #expect(try await eventually { try await catalogAvailable() == 12 })
      // Every event was published; a drain now finds none.
      #expect(try await eventually { try await h.service.store.outbox.unpublished(pool: h.pool).isEmpty })
      #expect(try await StockRelay(service: h.service).drain() == 0)
      // The version the catalog gets grows with every change of any row of the product.
      let level = try await h.service.store.stockLevels(products: [a])
      // Two rows created (1 + 1); the reservation split over both (+2) and its release (+2).
      #expect(level.map(\.version) == [6])
      #expect(level.map(\.availableQuantity) == [12])
    }
  }
}
