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

/// What the order's customer is told about their shipments: SHIPMENT_UPDATED notifications,
/// written with each change and delivered by the notification relay to NotificationService.
@Suite("Shipment notifications", .serialized)
struct ShipmentNotificationTests {
  /// The shipment news among notifications.
  static func updates(_ notifications: [CommerceV1.Notification]) -> [CommerceV1.ShipmentUpdated] {
    notifications.compactMap { notification in
      if case .shipmentUpdated(let update)? = notification.payload?.event { update } else { nil }
    }
  }

  @Test("a delivered shipment's news reach the customer's Subscribe stream live and the inbox, in order, once per status")
  func deliveredShipment() async throws {
    try await ShippingHarness.run(notifications: true) { h in
      let product = try await h.product(price: 2500, stock: 5)
      let (customerID, customer) = try await h.customer()
      let (order, _) = try await h.paidOrder([(product, 1)], customer: customer)
      var streamOptions = customer
      streamOptions.timeout = .seconds(90)
      let onlyShipments = [CommerceV1.NotificationKind.shipmentUpdated]
      // The customer is watching (from the live tail) while the parcel travels.
      let (shipment, live) = try await h.notifications.subscribe(.with { $0.kinds = onlyShipments }, options: streamOptions) { stream in
        var shipment: CommerceV1.Shipment?
        var live: [CommerceV1.Notification] = []
        for try await message in stream {
          if message.caughtUp {
            let created = try await h.ship(order)
            shipment = created
            try await h.report(created, .pickedUp, minutesAgo: 30)
            try await h.report(created, .inTransit, minutesAgo: 20, note: "Oakland hub")
            // A second scan in transit, and a late scan from before the latest, change no status.
            try await h.report(created, .inTransit, minutesAgo: 15, note: "San Jose hub")
            try await h.report(created, .inTransit, minutesAgo: 25, note: "late scan")
            try await h.report(created, .outForDelivery, minutesAgo: 5)
            try await h.report(created, .delivered, note: "left at front door")
            continue
          }
          guard let notification = message.notification else { continue }
          live.append(notification)
          if Self.updates([notification]).first?.status == .delivered { break }
        }
        return (shipment!, live)
      }
      let updates = Self.updates(live)
      #expect(updates.map(\.status) == [.labelCreated, .pickedUp, .inTransit, .outForDelivery, .delivered])
      #expect(updates.map(\.note) == ["", "", "Oakland hub", "", "left at front door"])
      let estimate = try #require(shipment.estimatedDeliveryTime?.date)
      #expect(updates.allSatisfy {
        $0.shipmentId == shipment.shipmentId && $0.orderId == order.orderId && $0.carrierId == ShippingHarness.carrier
          && $0.trackingNumber == shipment.trackingNumber && abs(($0.estimatedDeliveryTime?.date ?? .distantPast).timeIntervalSince(estimate)) < 0.001
      })
      #expect(live.allSatisfy { $0.recipientId == customerID && $0.kind == .shipmentUpdated })
      #expect(live.allSatisfy { $0.sourceService == "emporium.commerce.v1.ShippingService" })
      #expect(zip(live, live.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
      #expect(live.last?.title == "Your shipment is delivered" && live.last?.body.hasSuffix(": left at front door.") == true)
      // The report's time is the news's time: the pickup happened half an hour ago.
      let pickedUp = try #require(live.dropFirst().first?.occurTime?.date)
      #expect(abs(pickedUp.timeIntervalSinceNow + 30 * 60) < 60)

      // The inbox holds the same notifications, newest first, unread; the other kinds (the
      // order's status changes, the payment's results) share the customer's one sequence, which
      // has no holes.
      let inbox = try await h.notifications.listNotifications(.with { $0.kinds = onlyShipments }, options: customer)
      #expect(inbox.notifications.reversed().map(\.notificationId) == live.map(\.notificationId))
      #expect(inbox.notifications.allSatisfy { $0.readTime == nil } && inbox.unreadCount >= Int64(live.count))
      let everything = try await h.notifications.listNotifications(.with { $0.pageSize = 200 }, options: customer).notifications
      #expect(everything.map(\.sequence) == Array((1...Int64(everything.count)).reversed()))
      // Every notification of the shipping outbox is marked sent (the relay marks a batch once
      // PublishEvents accepted it, which may be just after the subscriber saw it).
      let allSent = try await eventually {
        try await h.pool.query(
          "SELECT count(*)::int8 FROM shipping.outbox WHERE topic = $1 AND published_at IS NULL", [Outbox.notificationTopic]
        ).first!.decode(0, as: Int64.self) == 0
      }
      #expect(allSent)
    }
  }

  @Test("a failed attempt and a return to sender reach the customer; a cancelled or lost parcel and a duplicate report do not")
  func failedAndReturned() async throws {
    try await ShippingHarness.run(notifications: true) { h in
      let products = [try await h.product(stock: 5), try await h.product(stock: 5), try await h.product(stock: 5)]
      let (order, customer) = try await h.paidOrder(products.map { ($0, 1) })
      let returned = try await h.ship(order, lines: [(order.lines[0].orderLineId, 1)])
      let cancelled = try await h.ship(order, lines: [(order.lines[1].orderLineId, 1)])
      let lost = try await h.ship(order, lines: [(order.lines[2].orderLineId, 1)])
      try await h.report(returned, .pickedUp, minutesAgo: 40)
      try await h.report(returned, .outForDelivery, minutesAgo: 30)
      try await h.report(returned, .deliveryFailed, minutesAgo: 20, eventID: "attempt-1", note: "nobody home")
      try await h.report(returned, .deliveryFailed, minutesAgo: 20, eventID: "attempt-1", note: "nobody home")
      _ = try await h.shipping.cancelShipment(
        .with {
          $0.shipmentId = cancelled.shipmentId
          $0.reason = "packed by mistake"
        }, options: h.seller)
      try await h.report(lost, .lost)
      // The last change: the relay sends in outbox order, so once its news arrived every earlier
      // change's news would have too.
      try await h.report(returned, .returnedToSender, minutesAgo: 10, note: "returned after 1 attempt")
      var updates: [CommerceV1.ShipmentUpdated] = []
      let arrived = await eventually {
        let inbox = try? await h.notifications.listNotifications(.with { $0.kinds = [.shipmentUpdated] }, options: customer)
        updates = Self.updates(Array((inbox?.notifications ?? []).reversed()))
        return updates.last?.status == .returnedToSender
      }
      #expect(arrived)
      #expect(updates.map(\.status) == [.labelCreated, .labelCreated, .labelCreated, .pickedUp, .outForDelivery, .deliveryFailed, .returnedToSender])
      #expect(updates.prefix(3).map(\.shipmentId) == [returned, cancelled, lost].map(\.shipmentId))
      #expect(updates.dropFirst(3).allSatisfy { $0.shipmentId == returned.shipmentId })
      #expect(updates[5].note == "nobody home" && updates[6].note == "returned after 1 attempt")
    }
  }
}
