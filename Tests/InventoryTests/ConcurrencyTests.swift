import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommerceInventory

/// No combination of concurrent reservations oversells or deadlocks.
@Suite("InventoryService concurrency")
struct ConcurrencyTests {
  @Test("50 concurrent reservations of one product with 20 units: exactly 20 reserved, never more", arguments: [true, false])
  func hotProduct(coalesce: Bool) async throws {
    try await InventoryHarness.run(coalesce: coalesce) { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 20)
      let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<50 {
          group.addTask {
            do {
              _ = try await h.reserve([(a, 1, "")])
              return "ok"
            } catch let error as RPCError {
              return error.commerceReason ?? error.code.name
            }
          }
        }
        return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
      }
      #expect(outcomes == ["ok": 20, "INSUFFICIENT_STOCK": 30])
      let row = try await h.row(a, w)
      #expect(row.onHand == 20 && row.reserved == 20 && row.available == 0)
      let held = try await h.pool.query(
        "SELECT coalesce(sum(quantity), 0)::int8 FROM inventory.reservation_allocations JOIN inventory.reservations r ON r.id = reservation_id WHERE r.status = 'ACTIVE'")
      #expect(try held.first!.decode(0, as: Int64.self) == 20)
      // The ledger accounts for every reserved unit.
      let ledger = try await h.service.store.ledger(StockKey(productID: a, warehouseID: UUID(id: w)!))
      #expect(ledger.filter { $0.kind == "RESERVE" }.reduce(0) { $0 + $1.reservedDelta } == 20)
      try await h.checkInvariant()
    }
  }

  @Test("concurrent multi-product reservations in opposite product orders do not deadlock", arguments: [true, false])
  func oppositeOrders(coalesce: Bool) async throws {
    try await InventoryHarness.run(coalesce: coalesce) { h in
      let products = [try await h.product("A").productId, try await h.product("B").productId, try await h.product("C").productId]
      let w = try await h.warehouse().warehouseId
      for product in products { try await h.stock(product, w, onHand: 1000) }
      let retriesBefore = h.pool.metrics.transactionRetries
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<40 {
          let ordered = index.isMultiple(of: 2) ? products : products.reversed()
          group.addTask {
            let reservation = try await h.reserve(ordered.map { ($0, 2, "") })
            // Half give their units back at once, so releases interleave with reservations.
            if index.isMultiple(of: 4) {
              _ = try await h.inventory.releaseReservation(.with { $0.reservationId = reservation.reservationId }, options: h.orders)
            } else if index % 4 == 1 {
              _ = try await h.inventory.commitReservation(.with { $0.reservationId = reservation.reservationId }, options: h.orders)
            }
          }
        }
        try await group.waitForAll()
      }
      // 40 reservations of 2 units each: 10 released, 10 committed, 20 active.
      for product in products {
        let row = try await h.row(product, w)
        #expect(row.onHand == 1000 - 20)
        #expect(row.reserved == 40)
      }
      // No transaction was rolled back and retried: no deadlock, no serialization failure.
      #expect(h.pool.metrics.transactionRetries == retriesBefore)
      let deadlocks = try await h.pool.query("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
      #expect(try deadlocks.first!.decode(0, as: Int64.self) == 0)
      try await h.checkInvariant()
    }
  }

  @Test("the schema itself refuses reserved above on_hand and negative counts")
  func schemaInvariant() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 3)
      for assignment in ["reserved = 4", "on_hand = -1", "reserved = -1", "on_hand = 2, reserved = 3"] {
        do {
          try await h.pool.query(
            "UPDATE inventory.stock SET \(assignment) WHERE product_id = $1 AND warehouse_id = $2", [a, UUID(id: w)!])
          Issue.record("the schema accepted \(assignment)")
        } catch let error as PostgresError {
          #expect(error.sqlState == "23514", "\(error)")  // check_violation
        }
      }
      #expect(try await h.row(a, w).onHand == 3)
    }
  }
}
