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

/// The expiry sweeper gives back the units of reservations past their expire_time.
@Suite("InventoryService expiry")
struct ExpiryTests {
  @Test("a sweep expires due reservations only, gives their units back, and leaves the others")
  func sweep() async throws {
    try await InventoryHarness.run(sweepInterval: nil) { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 10)
      let short = try await h.reserve([(a, 3, w)], ttl: .seconds(60))
      let long = try await h.reserve([(a, 2, w)], ttl: .seconds(3600))
      let committed = try await h.reserve([(a, 1, w)], ttl: .seconds(60))
      _ = try await h.inventory.commitReservation(.with { $0.reservationId = committed.reservationId }, options: h.orders)
      let sweeper = ExpirySweeper(service: h.service)
      #expect(try await sweeper.sweep() == 0)
      h.clock.advance(61)
      #expect(try await sweeper.sweep() == 1)
      #expect(try await sweeper.sweep() == 0)
      func status(_ id: String) async throws -> CommerceV1.Reservation {
        try await h.inventory.getReservation(.with { $0.reservationId = id }, options: h.orders).reservation!
      }
      let expired = try await status(short.reservationId)
      #expect(expired.status == .expired && expired.finishTime == expired.expireTime)
      #expect(try await status(long.reservationId).status == .active)
      #expect(try await status(committed.reservationId).status == .committed)
      let row = try await h.row(a, w)
      #expect(row.onHand == 9 && row.reserved == 2)
      // Committing it now says it expired, and gives nothing back twice.
      await expectFailure(.failedPrecondition, reason: "RESERVATION_EXPIRED") {
        try await h.inventory.commitReservation(.with { $0.reservationId = short.reservationId }, options: h.orders)
      }
      #expect(try await h.row(a, w).reserved == 2)
      try await h.checkInvariant()
    }
  }

  @Test("the background sweeper expires a reservation once its time has passed")
  func background() async throws {
    try await InventoryHarness.run(sweepInterval: .milliseconds(50)) { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 4)
      let reservation = try await h.reserve([(a, 4, w)], ttl: .seconds(60))
      h.clock.advance(61)
      let expired = try await eventually {
        try await h.inventory.getReservation(.with { $0.reservationId = reservation.reservationId }, options: h.orders)
          .reservation!.status == .expired
      }
      #expect(expired)
      #expect(try await h.row(a, w).available == 4)
      #expect(try await h.reserve([(a, 4, w)]).status == .active)
    }
  }
}
