import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@testable import CommerceNotifications

/// PublishEvents: per-recipient sequences, rendering, deduplication, validation and who may
/// publish.
@Suite("NotificationService publishing")
struct PublishTests {
  @Test("each recipient's notifications are numbered 1, 2, 3... in the order accepted, rendered from the payload")
  func sequences() async throws {
    try await NotificationHarness.run { h in
      let (alice, aliceOptions) = try await h.user()
      let (bob, bobOptions) = try await h.user()
      let events = [
        NotificationHarness.orderEvent(alice, id: "e1"), NotificationHarness.orderEvent(bob, id: "e2"),
        NotificationHarness.orderEvent(alice, id: "e3"), NotificationHarness.ticketEvent(alice, id: "e4"),
      ]
      let response = try await h.notifications.publishEvents(.with { $0.events = events }, options: h.orders)
      #expect(response.acceptedCount == 4 && response.duplicateCount == 0)
      let mine = try await h.all(aliceOptions)
      #expect(mine.map(\.sequence) == [1, 2, 3])
      #expect(mine.map(\.sourceEventId) == ["e1", "e3", "e4"])
      #expect(mine.map(\.kind) == [.orderStatusChanged, .orderStatusChanged, .ticketReplied])
      #expect(mine.allSatisfy { $0.recipientId == alice && $0.sourceService == "emporium.commerce.v1.OrderService" })
      #expect(mine[0].title == "Your order has shipped")
      #expect(mine[0].body.contains("from packed to shipped"))
      #expect(mine[0].occurTime?.seconds == 1_700_000_000)
      #expect(mine[0].createTime != nil && mine[0].readTime == nil)
      if case .orderStatusChanged(let event)? = mine[0].payload?.event {
        #expect(event.orderId == "order-e1" && event.orderVersion == 4)
      } else {
        Issue.record("the payload is not the order event")
      }
      #expect(try await h.all(bobOptions).map(\.sequence) == [1])
    }
  }

  @Test("an event is accepted at most once: a resent batch and a repeat within a batch are duplicates")
  func deduplication() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let batch = CommerceV1.PublishEventsRequest.with {
        $0.events = [NotificationHarness.orderEvent(alice, id: "a"), NotificationHarness.orderEvent(alice, id: "b")]
      }
      let first = try await h.notifications.publishEvents(batch, options: h.orders)
      #expect(first.acceptedCount == 2 && first.duplicateCount == 0)
      let again = try await h.notifications.publishEvents(batch, options: h.orders)
      #expect(again.acceptedCount == 0 && again.duplicateCount == 2)
      let repeated = try await h.notifications.publishEvents(
        .with {
          $0.events = [
            NotificationHarness.orderEvent(alice, id: "c"), NotificationHarness.orderEvent(alice, id: "c"),
            NotificationHarness.orderEvent(alice, id: "a"),
          ]
        }, options: h.orders)
      #expect(repeated.acceptedCount == 1 && repeated.duplicateCount == 2)
      // The same source event id from another service is another event.
      let fromPayments = try await h.notifications.publishEvents(batch, options: try await h.host.service("payments"))
      #expect(fromPayments.acceptedCount == 2)
      let all = try await h.all(options)
      #expect(all.map(\.sequence) == [1, 2, 3, 4, 5])
      #expect(all.map(\.sourceEventId) == ["a", "b", "c", "a", "b"])
      #expect(all.suffix(2).allSatisfy { $0.sourceService == "emporium.commerce.v1.PaymentService" })
    }
  }

  @Test("concurrent publishers to one recipient: sequences 1...n, each exactly once")
  func concurrentPublishers() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let (bob, _) = try await h.user()
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<8 {
          group.addTask {
            for _ in 0..<5 {
              // Two recipients per batch, in either order: no deadlock, no lost number.
              let events = (0..<5).flatMap { _ in [NotificationHarness.orderEvent(bob), NotificationHarness.orderEvent(alice)] }
              _ = try await h.notifications.publishEvents(.with { $0.events = events.shuffled() }, options: h.orders)
            }
          }
        }
        try await group.waitForAll()
      }
      #expect(try await h.all(options).map(\.sequence) == Array(1...200))
    }
  }

  @Test("bad batches are INVALID_ARGUMENT naming every bad field, and nothing of them is stored")
  func validation() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let empty = await expectFailure(.invalidArgument) {
        try await h.notifications.publishEvents(.init(), options: h.orders)
      }
      #expect(empty?.invalidFields == ["events"])
      let tooMany = await expectFailure(.invalidArgument) {
        try await h.notifications.publishEvents(
          .with { $0.events = (0..<501).map { _ in NotificationHarness.orderEvent(alice) } }, options: h.orders)
      }
      #expect(tooMany?.invalidFields == ["events"])
      var noID = NotificationHarness.orderEvent(alice)
      noID.sourceEventId = ""
      var noRecipient = NotificationHarness.orderEvent(alice)
      noRecipient.recipientId = ""
      var noPayload = NotificationHarness.orderEvent(alice)
      noPayload.payload = nil
      var emptyPayload = NotificationHarness.orderEvent(alice)
      emptyPayload.payload = .init()
      var longID = NotificationHarness.orderEvent(alice)
      longID.sourceEventId = String(repeating: "i", count: 201)
      let bad = await expectFailure(.invalidArgument) {
        try await h.notifications.publishEvents(
          .with { $0.events = [NotificationHarness.orderEvent(alice), noID, noRecipient, noPayload, emptyPayload, longID] },
          options: h.orders)
      }
      #expect(
        bad?.invalidFields == [
          "events[1].source_event_id", "events[2].recipient_id", "events[3].payload", "events[4].payload", "events[5].source_event_id",
        ])
      #expect(try await h.all(options).isEmpty)
      // Exactly 500 is allowed.
      #expect(try await h.publish(500, to: alice) == 500)
    }
  }

  @Test("only the publishing services may publish; the source service comes from the caller's identity")
  func access() async throws {
    try await NotificationHarness.run { h in
      let (alice, options) = try await h.user()
      let request = CommerceV1.PublishEventsRequest.with { $0.events = [NotificationHarness.orderEvent(alice)] }
      await expectFailure(.permissionDenied) { try await h.notifications.publishEvents(request, options: options) }
      let admin = try await h.host.user(roles: [.admin])
      await expectFailure(.permissionDenied) { try await h.notifications.publishEvents(request, options: admin) }
      await expectFailure(.permissionDenied) {
        try await h.notifications.publishEvents(request, options: try await h.host.service("reviews"))
      }
      await expectFailure(.unauthenticated) { try await h.notifications.publishEvents(request) }
      var sources: [String] = []
      for service in ["orders", "payments", "shipping", "support"] {
        _ = try await h.notifications.publishEvents(
          .with { $0.events = [NotificationHarness.orderEvent(alice)] }, options: try await h.host.service(service))
        sources.append(try await h.all(options).last!.sourceService)
      }
      #expect(
        sources == [
          "emporium.commerce.v1.OrderService", "emporium.commerce.v1.PaymentService", "emporium.commerce.v1.ShippingService",
          "emporium.commerce.v1.SupportService",
        ])
    }
  }

  @Test("titles and bodies for every kind")
  func rendering() {
    let payment = NotificationText.render(
      .with {
        $0.event = .paymentResult(.with {
          $0.orderId = "0123456789"
          $0.status = .declined
          $0.declineReason = .insufficientFunds
        })
      })
    #expect(payment.title == "Payment declined")
    #expect(payment.body == "The payment for order 01234567 is declined (insufficient funds).")
    let shipment = NotificationText.render(
      .with {
        $0.event = .shipmentUpdated(.with {
          $0.shipmentId = "s1"
          $0.orderId = "o1"
          $0.status = .outForDelivery
          $0.note = "on the van"
        })
      })
    #expect(shipment.title == "Your shipment is out for delivery")
    #expect(shipment.body == "Shipment s1 of order o1 is out for delivery: on the van.")
    let ret = NotificationText.render(.with { $0.event = .returnUpdated(.with { $0.returnId = "r1"; $0.orderId = "o1"; $0.status = .approved }) })
    #expect(ret.title == "Your return is approved")
    let ticket = NotificationText.render(.with { $0.event = .ticketReplied(.with { $0.ticketId = "t1"; $0.excerpt = "Hello" }) })
    #expect(ticket.title == "Support replied to your ticket" && ticket.body == "Ticket t1: Hello")
  }
}
