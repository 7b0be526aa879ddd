import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceOrders

/// OrderService's and PaymentService's notification relays: what the customer is told.
@Suite("OrderService notifications")
struct OrderNotificationTests {
  @Test("a checkout's status changes and its payment result reach the customer's notification stream, in order")
  func checkoutNotifies() async throws {
    try await OrderHarness.run(payments: true, notifications: true) { h in
      let (customerID, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      let order = try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customer).order!
      #expect(order.status == .confirmed)
      var options = customer
      options.timeout = .seconds(60)
      let notifications = CommerceV1.NotificationService.Client(h.host.connection)
      let received = try await notifications.subscribe(.with { $0.resumeFrom = .afterSequence(0) }, options: options) { stream in
        var received: [CommerceV1.Notification] = []
        for try await message in stream {
          guard let notification = message.notification else { continue }
          received.append(notification)
          let confirmed = received.contains {
            if case .orderStatusChanged(let event)? = $0.payload?.event { event.status == .confirmed } else { false }
          }
          let authorized = received.contains {
            if case .paymentResult(let event)? = $0.payload?.event { event.status == .authorized } else { false }
          }
          if confirmed && authorized { break }
        }
        return received
      }
      #expect(received.map(\.sequence) == Array(1...Int64(received.count)))
      #expect(received.allSatisfy { $0.recipientId == customerID })
      let orderEvents = received.compactMap { notification -> CommerceV1.OrderStatusChanged? in
        if case .orderStatusChanged(let event)? = notification.payload?.event { event } else { nil }
      }
      #expect(orderEvents.allSatisfy { $0.orderId == order.orderId })
      #expect(orderEvents.last?.status == .confirmed && orderEvents.last?.previousStatus != .unspecified)
      #expect(orderEvents.last?.orderVersion == order.version)
      let orderSource = received.last { $0.kind == .orderStatusChanged }
      #expect(orderSource?.sourceService == "emporium.commerce.v1.OrderService" && orderSource?.title == "Your order is confirmed")
      let payment = received.first { $0.kind == .paymentResult }
      #expect(payment?.sourceService == "emporium.commerce.v1.PaymentService")
      if case .paymentResult(let event)? = payment?.payload?.event {
        #expect(event.orderId == order.orderId && event.paymentId == order.paymentId && event.amount?.amountMinor == order.totals?.total?.amountMinor)
      }
    }
  }

  @Test("without NotificationService in the process, orders run without the relay and their notifications wait in the outbox")
  func withoutNotificationService() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      let order = try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customer).order!
      #expect(order.status == .confirmed)
      let waiting = try await h.pool.query(
        "SELECT count(*) FROM orders.outbox WHERE topic = 'notification' AND published_at IS NULL")
      #expect(try waiting.first!.decode(0, as: Int64.self) >= 1)
      // The order's own events, which no relay sends, are the record of each change: one per
      // status (PENDING, AWAITING_PAYMENT, CONFIRMED), written published, so that they never
      // pile up in front of a relay.
      let record = try await h.pool.query(
        "SELECT count(*), count(published_at) FROM orders.outbox WHERE topic = 'order.status_changed' AND aggregate_id = $1",
        [order.orderId])
      #expect(try record.first!.decode(0, as: Int64.self) == 3)
      #expect(try record.first!.decode(1, as: Int64.self) == 3)
    }
  }
}
