import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommerceInventory

/// ReserveStock, CommitReservation, ReleaseReservation, ExtendReservation and GetReservation.
@Suite("InventoryService reservations")
struct ReservationTests {
  @Test("ReserveStock: all lines reserved, server-chosen warehouses, idempotent by key")
  func reserve() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product("A").productId
      let b = try await h.product("B").productId
      let w1 = try await h.warehouse("One").warehouseId
      let w2 = try await h.warehouse("Two").warehouseId
      try await h.stock(a, w1, onHand: 4)
      try await h.stock(a, w2, onHand: 6)
      try await h.stock(b, w1, onHand: 10)
      // a: 5 fit in w2 alone (the most available); b: 2 from w1 as asked.
      let reservation = try await h.reserve([(a, 5, ""), (b, 2, w1)], order: "order-1", key: "order-1")
      #expect(reservation.status == .active && reservation.orderId == "order-1")
      #expect(reservation.allocations.map { [$0.productId, $0.warehouseId, "\($0.quantity)", "\($0.lineIndex)"] } == [
        [a, w2, "5", "0"], [b, w1, "2", "1"],
      ])
      let ttl = reservation.expireTime!.date.timeIntervalSince(reservation.createTime!.date)
      #expect(abs(ttl - 900) < 1)
      #expect(try await h.row(a, w2).reserved == 5)
      // A retry returns the same reservation and reserves nothing more.
      let retry = try await h.reserve([(a, 5, ""), (b, 2, w1)], order: "order-1", key: "order-1")
      #expect(retry.reservationId == reservation.reservationId)
      #expect(try await h.row(a, w2).reserved == 5)
      // 4 more of a: w1 has 4, w2 has 1 left: w1 alone.
      let second = try await h.reserve([(a, 4, "")], ttl: .seconds(60))
      #expect(second.allocations.map(\.warehouseId) == [w1])
      // Split: 1 left in w2 only; take 1. Then none left.
      try await h.stock(a, w1, onHand: 6)
      let split = try await h.reserve([(a, 3, "")])
      #expect(split.allocations.map(\.quantity) == [2, 1])
      #expect(split.allocations.map(\.warehouseId) == [w1, w2])
      let stock = try await h.inventory.getStock(.with { $0.productIds = [a] }, options: h.admin).stocks[0]
      #expect(stock.totalOnHand == 12 && stock.totalReserved == 12 && stock.totalAvailable == 0)
      let got = try await h.inventory.getReservation(.with { $0.reservationId = reservation.reservationId }, options: h.orders)
      #expect(got.reservation == reservation)
      try await h.checkInvariant()
    }
  }

  @Test("ReserveStock: INSUFFICIENT_STOCK lists every short line and reserves nothing")
  func insufficient() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product("A").productId
      let b = try await h.product("B").productId
      let c = try await h.product("C").productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 5)
      try await h.stock(b, w, onHand: 1)
      let error = await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") {
        try await h.reserve([(a, 5, w), (b, 2, ""), (c, 1, "")])
      }
      #expect(error?.commerceMetadata == ["productId": b, "requested": "2", "available": "1"])
      let violations = error?.details?.details.compactMap { detail -> [RpcV1.PreconditionFailure.Violation]? in
        guard case .preconditionFailure(let failure) = detail.detail else { return nil }
        return failure.violations
      }.first ?? []
      #expect(violations.map(\.subject) == ["lines[1]", "lines[2]"])
      #expect(violations.allSatisfy { $0.kind == "INSUFFICIENT_STOCK" })
      #expect(violations.first?.messageText.contains("requested 2, available 1") == true)
      // Nothing was reserved, not even the line that could be served.
      #expect(try await h.row(a, w).reserved == 0)
      #expect(try await h.row(b, w).reserved == 0)
      // Two lines of one product in different warehouses count against each other's rows.
      let w2 = try await h.warehouse("Two").warehouseId
      try await h.stock(a, w2, onHand: 1)
      await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await h.reserve([(a, 5, w), (a, 2, "")]) }
      _ = try await h.reserve([(a, 5, w), (a, 1, "")])
      #expect(try await h.row(a, w2).reserved == 1)
      try await h.checkInvariant()
    }
  }

  @Test("ReserveStock: arguments, unknown products and warehouses, callers")
  func reserveErrors() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product("A").productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 5)
      func reserve(_ request: CommerceV1.ReserveStockRequest, as options: CallOptions? = nil) async throws -> CommerceV1.ReserveStockResponse {
        try await h.inventory.reserveStock(request, options: options ?? h.orders)
      }
      func line(_ product: String, _ quantity: Int64, _ warehouse: String = "") -> CommerceV1.ReservationLine {
        .with {
          $0.productId = product
          $0.quantity = quantity
          $0.warehouseId = warehouse
        }
      }
      func request(_ lines: [CommerceV1.ReservationLine], ttl: Duration? = nil, key: String = UUID().uuidString) -> CommerceV1.ReserveStockRequest {
        .with {
          $0.orderId = "order"
          $0.lines = lines
          if let ttl { $0.ttl = .init(ttl) }
          $0.idempotencyKey = key
        }
      }
      var error = await expectFailure(.invalidArgument) { try await reserve(request([])) }
      #expect(error?.invalidFields == ["lines"])
      error = await expectFailure(.invalidArgument) { try await reserve(request((0..<101).map { _ in line(a, 1) })) }
      #expect(error?.invalidFields.contains("lines") == true)
      error = await expectFailure(.invalidArgument) { try await reserve(request([line(a, 0), line(a, 1000, w)])) }
      #expect(error?.invalidFields == ["lines[0].quantity", "lines[1].quantity"])
      error = await expectFailure(.invalidArgument) { try await reserve(request([line(a, 1, w), line(a, 1, w)])) }
      #expect(error?.invalidFields == ["lines[1]"])
      error = await expectFailure(.invalidArgument) { try await reserve(request([line(a, 1)], ttl: .seconds(59))) }
      #expect(error?.invalidFields == ["ttl"])
      error = await expectFailure(.invalidArgument) { try await reserve(request([line(a, 1)], ttl: .seconds(3601))) }
      #expect(error?.invalidFields == ["ttl"])
      error = await expectFailure(.invalidArgument) { try await reserve(request([line(a, 1)], key: "")) }
      #expect(error?.invalidFields == ["idempotency_key"])
      await expectFailure(.notFound) { try await reserve(request([line(a, 1), line(UUID().uuidString.lowercased(), 1)])) }
      await expectFailure(.notFound) { try await reserve(request([line(a, 1, UUID().uuidString.lowercased())])) }
      // Callers: OrderService and ADMIN users only.
      _ = try await reserve(request([line(a, 1)]), as: h.admin)
      await expectFailure(.permissionDenied) { try await reserve(request([line(a, 1)]), as: h.seller) }
      await expectFailure(.permissionDenied) { try await reserve(request([line(a, 1)]), as: try await h.service("cart")) }
      await expectFailure(.unauthenticated) { try await reserve(request([line(a, 1)]), as: CallOptions()) }
      // A product without stock anywhere is short, not unknown.
      let empty = try await h.product("Empty").productId
      await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await reserve(request([line(empty, 1)])) }
      #expect(try await h.row(a, w).reserved == 1)
    }
  }

  @Test("CommitReservation: units leave reserved and on_hand; idempotent; released is NOT_ACTIVE; expired is EXPIRED")
  func commit() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 10)
      func commit(_ id: String, as options: CallOptions? = nil) async throws -> CommerceV1.Reservation {
        try await h.inventory.commitReservation(.with { $0.reservationId = id }, options: options ?? h.orders).reservation!
      }
      func release(_ id: String) async throws -> CommerceV1.Reservation {
        try await h.inventory.releaseReservation(.with { $0.reservationId = id; $0.reason = "payment declined" }, options: h.orders).reservation!
      }
      let reservation = try await h.reserve([(a, 3, w)])
      let committed = try await commit(reservation.reservationId)
      #expect(committed.status == .committed && committed.finishTime != nil)
      var row = try await h.row(a, w)
      #expect(row.onHand == 7 && row.reserved == 0)
      #expect(try await commit(reservation.reservationId) == committed)
      #expect(try await h.row(a, w).onHand == 7)
      await expectFailure(.failedPrecondition, reason: "RESERVATION_NOT_ACTIVE") { try await release(reservation.reservationId) }

      let released = try await h.reserve([(a, 2, w)])
      _ = try await release(released.reservationId)
      await expectFailure(.failedPrecondition, reason: "RESERVATION_NOT_ACTIVE") { try await commit(released.reservationId) }

      let expiring = try await h.reserve([(a, 4, w)], ttl: .seconds(60))
      #expect(try await h.row(a, w).reserved == 4)
      h.clock.advance(61)
      await expectFailure(.failedPrecondition, reason: "RESERVATION_EXPIRED") { try await commit(expiring.reservationId) }
      row = try await h.row(a, w)
      #expect(row.onHand == 7 && row.reserved == 0)
      let got = try await h.inventory.getReservation(.with { $0.reservationId = expiring.reservationId }, options: h.admin).reservation!
      #expect(got.status == .expired && got.finishTime == got.expireTime)
      // Releasing an expired reservation returns it unchanged.
      #expect(try await release(expiring.reservationId) == got)

      await expectFailure(.notFound) { try await commit(UUID().uuidString.lowercased()) }
      await expectFailure(.notFound) { try await commit("nope") }
      await expectFailure(.permissionDenied) { try await commit(reservation.reservationId, as: h.seller) }
      let ledger = try await h.service.store.ledger(StockKey(productID: a, warehouseID: UUID(id: w)!))
      #expect(ledger.map(\.kind) == ["SET", "RESERVE", "COMMIT", "RESERVE", "RELEASE", "RESERVE", "EXPIRE"])
      try await h.checkInvariant()
    }
  }

  @Test("ReleaseReservation: units available again, idempotent, reason kept")
  func release() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 5)
      let reservation = try await h.reserve([(a, 5, w)])
      await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") { try await h.reserve([(a, 1, w)]) }
      let request = CommerceV1.ReleaseReservationRequest.with {
        $0.reservationId = reservation.reservationId
        $0.reason = "payment declined"
      }
      let released = try await h.inventory.releaseReservation(request, options: h.admin).reservation!
      #expect(released.status == .released && released.finishTime != nil)
      #expect(try await h.row(a, w).available == 5)
      #expect(try await h.inventory.releaseReservation(request, options: h.orders).reservation! == released)
      #expect(try await h.row(a, w).available == 5)
      let reason = try await h.pool.query("SELECT release_reason FROM inventory.reservations WHERE id = $1", [UUID(id: reservation.reservationId)!])
      #expect(try reason.first!.decode(0, as: String?.self) == "payment declined")
      _ = try await h.reserve([(a, 5, w)])
      await expectFailure(.notFound) {
        try await h.inventory.releaseReservation(.with { $0.reservationId = UUID().uuidString.lowercased() }, options: h.orders)
      }
      await expectFailure(.permissionDenied) { try await h.inventory.releaseReservation(request, options: try await h.service("support")) }
    }
  }

  @Test("ExtendReservation: new expiry from now, 2 hour cap, ttl range, state errors")
  func extend() async throws {
    try await InventoryHarness.run { h in
      let a = try await h.product().productId
      let w = try await h.warehouse().warehouseId
      try await h.stock(a, w, onHand: 10)
      func extend(_ id: String, _ ttl: Duration?) async throws -> CommerceV1.Reservation {
        try await h.inventory.extendReservation(
          .with {
            $0.reservationId = id
            if let ttl { $0.ttl = .init(ttl) }
          }, options: h.orders
        ).reservation!
      }
      let reservation = try await h.reserve([(a, 1, w)], ttl: .seconds(60))
      h.clock.advance(30)
      let extended = try await extend(reservation.reservationId, .seconds(3600))
      #expect(extended.status == .active)
      let lifetime = extended.expireTime!.date.timeIntervalSince(extended.createTime!.date)
      #expect(abs(lifetime - 3630) < 2)
      await expectFailure(.invalidArgument) { try await extend(reservation.reservationId, nil) }
      await expectFailure(.invalidArgument) { try await extend(reservation.reservationId, .seconds(30)) }
      await expectFailure(.invalidArgument) { try await extend(reservation.reservationId, .seconds(7200)) }
      h.clock.advance(3000)
      #expect(try await extend(reservation.reservationId, .seconds(3600)).status == .active)
      h.clock.advance(3000)
      // 6030 s old + 3600 s is past 2 hours in total.
      let cap = await expectFailure(.invalidArgument) { try await extend(reservation.reservationId, .seconds(3600)) }
      #expect(cap?.invalidFields == ["ttl"])
      #expect(try await extend(reservation.reservationId, .seconds(1000)).status == .active)
      // Expired: the units come back and the call says so.
      h.clock.advance(1001)
      await expectFailure(.failedPrecondition, reason: "RESERVATION_EXPIRED") { try await extend(reservation.reservationId, .seconds(60)) }
      #expect(try await h.row(a, w).reserved == 0)
      let committed = try await h.reserve([(a, 1, w)])
      _ = try await h.inventory.commitReservation(.with { $0.reservationId = committed.reservationId }, options: h.orders)
      await expectFailure(.failedPrecondition, reason: "RESERVATION_NOT_ACTIVE") { try await extend(committed.reservationId, .seconds(60)) }
      await expectFailure(.notFound) { try await extend(UUID().uuidString.lowercased(), .seconds(60)) }
      await expectFailure(.notFound) {
        try await h.inventory.getReservation(.with { $0.reservationId = UUID().uuidString.lowercased() }, options: h.orders)
      }
      await expectFailure(.permissionDenied) {
        try await h.inventory.getReservation(.with { $0.reservationId = committed.reservationId }, options: h.seller)
      }
    }
  }
}
