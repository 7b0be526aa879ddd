import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceShipping

/// The whole path over real sockets: checkout, shipment, the carrier's reports, the payment
/// captured through OrderService and PaymentService, delivery.
@Suite("Shipping fulfilment", .serialized)
struct FulfilmentTests {
  @Test("picked up captures the payment once and ships the order; delivered delivers it")
  func wholePath() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(price: 2500, stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 2)])
      let shipment = try await h.ship(order, key: "first-parcel")
      #expect(shipment.status == .labelCreated && shipment.orderId == order.orderId && shipment.sellerId == h.sellerID)
      #expect(shipment.lines.map(\.quantity) == [2] && shipment.lines.first?.orderLineId == order.lines[0].orderLineId)
      #expect(shipment.carrierId == ShippingHarness.carrier && shipment.trackingNumber.hasPrefix("AE"))
      #expect(shipment.destination?.locality == "Cupertino" && shipment.warehouseId == h.warehouseID)
      #expect(shipment.estimatedDeliveryTime != nil && shipment.latestEvent == nil && shipment.version == 1)
      // Every line is in a shipment: OrderService hears of it through the outbox and packs the order.
      let packed = try await h.awaitOrder(order.orderId, .packed, customer)
      #expect(packed.shipmentIds == [shipment.shipmentId])
      #expect(try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.admin).payment?.status == .authorized)

      let pickedUp = try await h.report(shipment, .pickedUp, eventID: "acme-1")
      #expect(pickedUp.shipment?.status == .pickedUp && !pickedUp.duplicate && pickedUp.event?.sequence == 1)
      #expect(pickedUp.event?.reporterId == h.partnerID && pickedUp.event?.location?.coordinates?.latitude == 37.8)
      let shipped = try await h.awaitOrder(order.orderId, .shipped, customer)
      #expect(shipped.paymentStatus == .captured)
      // A retry of CreateShipment answers the first call's shipment, though the order moved on.
      #expect(try await h.ship(order, key: "first-parcel").shipmentId == shipment.shipmentId)
      // The same report again is recorded once; another pickup report is not a transition.
      let again = try await h.report(shipment, .pickedUp, eventID: "acme-1")
      #expect(again.duplicate && again.event?.eventId == pickedUp.event?.eventId && again.shipment?.version == pickedUp.shipment?.version)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.report(shipment, .pickedUp) }
      let payment = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.admin).payment!
      #expect(payment.status == .captured && payment.capturedAmount?.amountMinor == order.totals?.total?.amountMinor)

      try await h.report(shipment, .inTransit)
      try await h.report(shipment, .outForDelivery)
      let delivered = try await h.report(shipment, .delivered, note: "left at front door")
      #expect(delivered.shipment?.status == .delivered && delivered.shipment?.deliverTime != nil)
      let done = try await h.awaitOrder(order.orderId, .delivered, customer)
      #expect(done.deliverTime != nil && done.paymentStatus == .captured)
      // The provider was asked to capture exactly once.
      let captures = try await h.pool.query(
        "SELECT count(*)::int8 FROM payments.payment_events WHERE payment_id = $1 AND kind = 'CAPTURE_REQUESTED'",
        [UUID(id: order.paymentId)!]
      ).first!.decode(0, as: Int64.self)
      #expect(captures == 1)
      // Every change went through the shipping outbox, and the relay sent every order event. The
      // customer's five notifications (label, pickup, transit, out for delivery, delivered) wait
      // there: this process does not host NotificationService.
      // (The relay marks the last one when its batch commits, after OrderService applied it.)
      var counts: [[String]] = []
      let sent = try await eventually {
        let outbox = try await h.pool.query(
          "SELECT topic, count(*)::int8, count(published_at)::int8 FROM shipping.outbox GROUP BY topic ORDER BY topic")
        counts = try outbox.map { [try $0.decode(0, as: String.self), String(try $0.decode(1, as: Int64.self)), String(try $0.decode(2, as: Int64.self))] }
        return counts.first { $0[0] == "shipment.order_event" }.map { [$0[1], $0[2]] } == ["3", "3"]
      }
      #expect(sent, "\(counts)")
      #expect(counts.first { $0[0] == Outbox.notificationTopic }.map { [$0[1], $0[2]] } == ["5", "0"])
    }
  }

  @Test("order events survive a restart in the outbox, and resending them applies nothing twice")
  func relayAfterRestart() async throws {
    let url = try await TestApp.newDatabase("shipping")
    let partners = ("partner-" + UUID().uuidString.prefix(8).lowercased(), "partner-" + UUID().uuidString.prefix(8).lowercased())
    let order = try await ShippingHarness.run(databaseURL: url, partnerIDs: partners) { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 1)])
      let shipment = try await h.ship(order)
      _ = try await h.awaitOrder(order.orderId, .packed, customer)
      try await h.report(shipment, .pickedUp)
      try await h.report(shipment, .delivered)
      _ = try await h.awaitOrder(order.orderId, .delivered, customer)
      // As if the relay had stopped after its calls and before marking them sent.
      try await Outbox(schema: "shipping").requeue(where: "topic = 'shipment.order_event'", pool: h.pool)
      return order
    }
    // The events are still there; the next start sends them again, and OrderService recognises
    // each one: the order stays DELIVERED, the payment captured once.
    try await ShippingHarness.run(databaseURL: url, partnerIDs: partners) { h in
      let sent = await eventually {
        (try? await h.pool.query(
          "SELECT count(*)::int8 FROM shipping.outbox WHERE published_at IS NULL AND topic = 'shipment.order_event'"
        ).first?.decode(0, as: Int64.self)) == 0
      }
      #expect(sent)
      // The new app has new token keys: the customer signs in again.
      let after = try await h.order(order.orderId, try await h.host.user(order.customerId, roles: [.customer]))
      #expect(after.status == .delivered && after.paymentStatus == .captured)
      let applied = try await h.pool.query(
        "SELECT count(*)::int8 FROM orders.applied_events WHERE order_id = $1", [UUID(id: order.orderId)!]
      ).first!.decode(0, as: Int64.self)
      #expect(applied == 3)
      let captures = try await h.pool.query(
        "SELECT count(*)::int8 FROM payments.payment_events WHERE payment_id = $1 AND kind = 'CAPTURE_REQUESTED'",
        [UUID(id: order.paymentId)!]
      ).first!.decode(0, as: Int64.self)
      #expect(captures == 1)
    }
  }

  @Test("an order ships in several parcels: PACKED once every line is in one, SHIPPED when every one left")
  func severalParcels() async throws {
    try await ShippingHarness.run { h in
      let first = try await h.product(stock: 10)
      let second = try await h.product(stock: 10)
      let (order, customer) = try await h.paidOrder([(first, 3), (second, 1)])
      let lineA = order.lines[0].orderLineId
      let lineB = order.lines[1].orderLineId
      let one = try await h.ship(order, lines: [(lineA, 2)])
      // More units than remain, and nothing left to ship, are refused.
      let tooMany = await expectFailure(.invalidArgument) { try await h.ship(order, lines: [(lineA, 2)]) }
      #expect(tooMany?.invalidFields == ["lines[0].quantity"])
      let two = try await h.ship(order, lines: [(lineA, 1), (lineB, 1)], carrier: ShippingHarness.otherCarrier)
      let nothing = await expectFailure(.invalidArgument) { try await h.ship(order) }
      #expect(nothing?.invalidFields == ["lines"])
      let packed = try await h.awaitOrder(order.orderId, .packed, customer)
      #expect(Set(packed.shipmentIds) == [one.shipmentId, two.shipmentId])
      let listed = try await h.shipping.listShipments(.with { $0.orderId = order.orderId }, options: customer).shipments
      #expect(listed.map(\.shipmentId) == [one.shipmentId, two.shipmentId])

      // The first parcel leaves: the payment is captured, the order waits for the second.
      try await h.report(one, .pickedUp)
      let captured = await eventually {
        (try? await h.order(order.orderId, customer).paymentStatus) == .captured
      }
      #expect(captured)
      #expect(try await h.order(order.orderId, customer).status == .packed)
      try await h.report(two, .pickedUp, caller: h.otherCarrierService)
      _ = try await h.awaitOrder(order.orderId, .shipped, customer)
      try await h.report(one, .delivered)
      #expect(try await h.order(order.orderId, customer).status == .shipped)
      try await h.report(two, .delivered, caller: h.otherPartner)
      _ = try await h.awaitOrder(order.orderId, .delivered, customer)
    }
  }

  @Test("cancelling an order cancels its shipments not picked up: the payment is voided, never captured")
  func orderCancelled() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 2)])
      let shipment = try await h.ship(order)
      _ = try await h.awaitOrder(order.orderId, .packed, customer)
      let cancelled = try await h.orders.cancelOrder(
        .with {
          $0.orderId = order.orderId
          $0.reason = .outOfStock
        }, options: h.seller
      ).order!
      #expect(cancelled.status == .cancelled && cancelled.paymentStatus == .voided)
      let after = try await h.shipping.getShipment(.with { $0.shipmentId = shipment.shipmentId }, options: customer).shipment!
      #expect(after.status == .cancelled && after.latestEvent?.note == "order cancelled")
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.report(shipment, .pickedUp) }
      // The shipment's cancellation reaches the order through the relay; nothing is captured.
      let unpacked = await eventually { (try? await h.order(order.orderId, customer).shipmentIds.isEmpty) == true }
      #expect(unpacked)
      let final = try await h.order(order.orderId, customer)
      #expect(final.status == .cancelled && final.paymentStatus == .voided)
      let payment = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.admin).payment!
      #expect(payment.status == .voided && (payment.capturedAmount?.amountMinor ?? 0) == 0)
    }
  }

  @Test("a cancelled shipment gives its lines back: the order is CONFIRMED again and ships in a new parcel")
  func cancelAndReship() async throws {
    try await ShippingHarness.run { h in
      let product = try await h.product(stock: 5)
      let (order, customer) = try await h.paidOrder([(product, 2)])
      let first = try await h.ship(order)
      _ = try await h.awaitOrder(order.orderId, .packed, customer)
      let cancelled = try await h.shipping.cancelShipment(
        .with {
          $0.shipmentId = first.shipmentId
          $0.reason = "wrong box"
        }, options: h.seller
      ).shipment!
      #expect(cancelled.status == .cancelled && cancelled.latestEvent?.status == .cancelled && cancelled.latestEvent?.note == "wrong box")
      // Idempotent: cancelling again returns it unchanged.
      let again = try await h.shipping.cancelShipment(.with { $0.shipmentId = first.shipmentId }, options: h.seller).shipment!
      #expect(again.version == cancelled.version)
      // Partners cannot report on it any more.
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.report(first, .pickedUp) }
      let confirmed = try await h.awaitOrder(order.orderId, .confirmed, customer)
      #expect(confirmed.shipmentIds.isEmpty)
      let second = try await h.ship(order)
      #expect(second.lines.map(\.quantity) == [2])
      _ = try await h.awaitOrder(order.orderId, .packed, customer)
      try await h.report(second, .pickedUp)
      // Once picked up, a shipment cannot be cancelled.
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.shipping.cancelShipment(.with { $0.shipmentId = second.shipmentId }, options: h.admin)
      }
      _ = try await h.awaitOrder(order.orderId, .shipped, customer)
      await expectFailure(.notFound) {
        try await h.shipping.cancelShipment(.with { $0.shipmentId = UUID().uuidString.lowercased() }, options: h.admin)
      }
    }
  }
}
