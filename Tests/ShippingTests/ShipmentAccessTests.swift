import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@testable import CommerceShipping

/// CreateShipment's checks and every access rule of ShippingService.
@Suite("Shipping access and errors", .serialized)
struct ShipmentAccessTests {
  @Test("CreateShipment: every documented error, idempotency, and ADMIN users shipping a seller's lines")
  func createErrors() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 10)
      let other = try await h.host.seller("Other Goods")
      let foreign = try await h.product(stock: 10, seller: other.options)
      let (order, customer) = try await h.paidOrder([(product, 2), (foreign, 1)])
      let mine = order.lines.first { $0.sellerId == h.sellerID }!.orderLineId
      let theirs = order.lines.first { $0.sellerId == other.id }!.orderLineId

      // NOT_FOUND: an unknown order, an order without the caller's lines, a caller who is no seller, an unknown warehouse.
      await expectFailure(.notFound) {
        try await h.ship(CommerceV1.Order.with { $0.orderId = UUID().uuidString.lowercased() })
      }
      let otherOrder = try await h.paidOrder([(foreign, 1)]).order
      await expectFailure(.notFound) { try await h.ship(otherOrder) }
      await expectFailure(.notFound) { try await h.ship(order, caller: customer) }
      await expectFailure(.notFound) {
        try await h.shipping.createShipment(
          .with {
            $0.orderId = order.orderId
            $0.carrierId = ShippingHarness.carrier
            $0.warehouseId = UUID().uuidString.lowercased()
            $0.idempotencyKey = "k"
          }, options: h.seller)
      }
      // INVALID_ARGUMENT: an unknown carrier, a line of another seller, a missing key and fields.
      let carrier = await expectFailure(.invalidArgument) { try await h.ship(order, carrier: "pigeon-post") }
      #expect(carrier?.invalidFields == ["carrier_id"])
      let line = await expectFailure(.invalidArgument) { try await h.ship(order, lines: [(theirs, 1)]) }
      #expect(line?.invalidFields == ["lines[0].order_line_id"])
      let unknownLine = await expectFailure(.invalidArgument) { try await h.ship(order, lines: [(UUID().uuidString.lowercased(), 1)]) }
      #expect(unknownLine?.invalidFields == ["lines[0].order_line_id"])
      let empty = await expectFailure(.invalidArgument) {
        try await h.shipping.createShipment(.with { $0.lines = [.with { $0.orderLineId = mine }] }, options: h.seller)
      }
      #expect(empty?.invalidFields == ["order_id", "lines[0].quantity", "carrier_id", "warehouse_id", "idempotency_key"])

      // Idempotent by key: a retry returns the same shipment, another request under the key is refused.
      let shipment = try await h.ship(order, key: "ship-1")
      #expect(shipment.lines.map(\.orderLineId) == [mine])
      let retry = try await h.ship(order, key: "ship-1")
      #expect(retry == shipment)
      await expectFailure(.invalidArgument, reason: "IDEMPOTENCY_KEY_REUSED") {
        try await h.ship(order, trackingNumber: "AE1", key: "ship-1")
      }
      // A tracking number the carrier already uses.
      let numbered = try await h.paidOrder([(product, 1)]).order
      _ = try await h.ship(numbered, trackingNumber: "ACME-0001")
      let reused = try await h.paidOrder([(product, 1)]).order
      await expectFailure(.alreadyExists) { try await h.ship(reused, trackingNumber: "ACME-0001") }

      // ADMIN users: the named lines of one seller; without lines only for a single-seller order.
      let several = await expectFailure(.invalidArgument) { try await h.ship(order, caller: h.admin) }
      #expect(several?.invalidFields == ["lines"])
      let byAdmin = try await h.ship(order, lines: [(theirs, 1)], caller: h.admin)
      #expect(byAdmin.sellerId == other.id)
      _ = try await h.awaitOrder(order.orderId, .packed, customer)

      // Concurrent calls for the same units: one parcel gets them, never more than were ordered.
      let contested = try await h.paidOrder([(product, 3)]).order
      @Sendable func attempt() async -> Result<CommerceV1.Shipment, any Error> {
        do { return .success(try await h.ship(contested)) } catch { return .failure(error) }
      }
      async let first = attempt()
      async let second = attempt()
      let outcomes = await [first, second]
      let made = outcomes.compactMap { try? $0.get() }
      #expect(made.count == 1 && made.first?.lines.map(\.quantity) == [3])
      let lost = outcomes.compactMap { outcome -> RPCError? in
        if case .failure(let error) = outcome { return error as? RPCError }
        return nil
      }
      #expect(lost.map(\.code) == [.invalidArgument] && lost.first?.invalidFields == ["lines"])

      // FAILED_PRECONDITION: the order is neither CONFIRMED nor PACKED.
      let (cancelled, buyer) = try await h.paidOrder([(product, 1)])
      _ = try await h.orders.cancelOrder(
        .with {
          $0.orderId = cancelled.orderId
          $0.reason = .customerRequested
        }, options: buyer)
      let refused = await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.ship(cancelled) }
      #expect(refused?.commerceMetadata["status"] == "CANCELLED")
    }
  }

  @Test("who sees, reports on and cancels a shipment")
  func accessRules() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 1)])
      let shipment = try await h.ship(order)
      let (_, stranger) = try await h.customer()
      let otherSeller = try await h.host.seller("Other Goods").options
      let orders = try await h.host.service("orders")
      let get = { (caller: CallOptions) in
        try await h.shipping.getShipment(.with { $0.shipmentId = shipment.shipmentId }, options: caller).shipment!
      }
      // Readers: the customer, the seller, the carrier's partner user and integration, ADMIN users, OrderService.
      for caller in [customer, h.seller, h.partner, h.carrierService, h.admin, orders] {
        #expect(try await get(caller).shipmentId == shipment.shipmentId)
      }
      // Everyone else reads it as missing, partners of another carrier included.
      for caller in [stranger, otherSeller, h.otherPartner, h.otherCarrierService] {
        await expectFailure(.notFound) { try await get(caller) }
      }
      await expectFailure(.unauthenticated) { try await get(CallOptions()) }
      await expectFailure(.permissionDenied) { try await get(try await h.host.service("catalog")) }
      await expectFailure(.notFound) { try await h.shipping.getShipment(.with { $0.shipmentId = "nope" }, options: h.admin) }

      // Reports: a partner of another carrier cannot update the shipment; customers and sellers may not report.
      await expectFailure(.notFound) { try await h.report(shipment, .pickedUp, caller: h.otherPartner) }
      await expectFailure(.notFound) { try await h.report(shipment, .pickedUp, caller: h.otherCarrierService) }
      await expectFailure(.permissionDenied) { try await h.report(shipment, .pickedUp, caller: customer) }
      await expectFailure(.permissionDenied) { try await h.report(shipment, .pickedUp, caller: h.seller) }
      await expectFailure(.notFound) {
        try await h.report(CommerceV1.Shipment.with { $0.shipmentId = UUID().uuidString.lowercased() }, .pickedUp)
      }
      // None of those was recorded.
      #expect(try await get(h.admin).version == 1)

      // Cancelling: partners and customers may not; other sellers read it as missing.
      let cancel = { (caller: CallOptions) in
        try await h.shipping.cancelShipment(.with { $0.shipmentId = shipment.shipmentId }, options: caller).shipment!
      }
      await expectFailure(.permissionDenied) { try await cancel(h.partner) }
      await expectFailure(.permissionDenied) { try await cancel(customer) }
      await expectFailure(.notFound) { try await cancel(otherSeller) }
      #expect(try await cancel(orders).status == .cancelled)

      // ListShipments: the customer and ADMIN users see all, a partner its carrier's, others nothing.
      let list = { (caller: CallOptions) in
        try await h.shipping.listShipments(.with { $0.orderId = order.orderId }, options: caller).shipments.map(\.shipmentId)
      }
      for caller in [customer, h.seller, h.admin, h.partner, h.carrierService, orders] {
        #expect(try await list(caller) == [shipment.shipmentId])
      }
      for caller in [stranger, otherSeller, h.otherPartner, h.otherCarrierService] {
        await expectFailure(.notFound) { try await list(caller) }
      }
      await expectFailure(.notFound) {
        try await h.shipping.listShipments(.with { $0.orderId = UUID().uuidString.lowercased() }, options: h.admin)
      }
      let missing = await expectFailure(.invalidArgument) { try await h.shipping.listShipments(.init(), options: h.admin) }
      #expect(missing?.invalidFields == ["order_id"])
    }
  }

  @Test("a seller of a shared order sees only its own shipments; the customer sees every one")
  func sellersSeeTheirOwn() async throws {
    try await ShippingHarness.run { h in
      let other = try await h.host.seller("Other Goods")
      let mine = try await h.product(stock: 5)
      let theirs = try await h.product(stock: 5, seller: other.options)
      let (order, customer) = try await h.paidOrder([(mine, 1), (theirs, 1)])
      let a = try await h.ship(order)
      let b = try await h.ship(order, caller: other.options)
      #expect(a.lines.map(\.productId) == [mine] && b.lines.map(\.productId) == [theirs])
      let list = { (caller: CallOptions) in
        try await h.shipping.listShipments(.with { $0.orderId = order.orderId }, options: caller).shipments.map(\.shipmentId)
      }
      #expect(try await list(h.seller) == [a.shipmentId])
      #expect(try await list(other.options) == [b.shipmentId])
      #expect(try await list(customer) == [a.shipmentId, b.shipmentId])
      await expectFailure(.notFound) {
        try await h.shipping.getShipment(.with { $0.shipmentId = b.shipmentId }, options: h.seller)
      }
    }
  }
}
