import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Crypto
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommercePayments

/// Asynchronous results: the sandbox's signed webhook deliveries, ReportProviderEvent, and the
/// relay to OrderService.
@Suite("PaymentService provider events")
struct WebhookTests {
  @Test("The asynchronous card stays PENDING, then the webhook authorizes it and OrderService hears of it")
  func asynchronousCard() async throws {
    try await PaymentHarness.run(withOrders: true) { h in
      let order = UUID().uuidString.lowercased()
      let payment = try await h.authorize(PaymentHarness.card("4000 0000 0000 3220"), order: order)
      #expect(payment.status == .pending)
      #expect(try await eventually { try await h.get(payment.paymentId).status == .authorized })
      let authorized = try await h.get(payment.paymentId)
      #expect(authorized.authorizationExpireTime != nil)
      #expect(try await h.ledger(payment.paymentId).last == "PROVIDER_EVENT")
      // The relay reports it to OrderService, with the outbox event's id.
      let recorder = try #require(h.orderEvents)
      #expect(try await eventually { !recorder.events.isEmpty })
      let event = try #require(recorder.events.first)
      #expect(event.orderId == order && event.kind == .paymentAuthorized && event.subjectId == payment.paymentId)
      let outboxID = try await h.pool.query("SELECT id FROM payments.outbox WHERE topic = 'payment.order_event'").first!.decode(0, as: Int64.self)
      #expect(event.eventId == "payments:\(outboxID)")
      #expect(try await eventually {
        try await h.pool.query("SELECT count(*) FROM payments.outbox WHERE topic = 'payment.order_event' AND published_at IS NULL")
          .first!.decode(0, as: Int64.self) == 0
      })
      // Every status change went to the outbox.
      let topics = try await h.pool.query("SELECT topic FROM payments.outbox WHERE aggregate_id = $1 ORDER BY id", [payment.paymentId])
        .map { try $0.decode(0, as: String.self) }
      #expect(topics == ["payment.pending", "payment.authorized"])
    }
  }

  @Test("The relay retries until OrderService accepts, and capture_immediately becomes CAPTURED")
  func relayRetries() async throws {
    try await PaymentHarness.run(withOrders: true) { h in
      let recorder = try #require(h.orderEvents)
      recorder.failNext(3)
      let payment = try await h.authorize(PaymentHarness.card("4000000000003220"), captureImmediately: true)
      #expect(try await eventually { recorder.events.count == 1 })
      #expect(recorder.events.first?.kind == .paymentAuthorized)
      let captured = try await h.get(payment.paymentId)
      #expect(captured.status == .captured && captured.capturedAmount == captured.amount)
    }
  }

  @Test("A bad signature and a stale timestamp are refused; a duplicate is applied once")
  func signatures() async throws {
    try await PaymentHarness.run(withOrders: true) { h in
      let payment = try await h.authorize(PaymentHarness.card("4000000000003220"))
      #expect(try await eventually { try await h.get(payment.paymentId).status == .authorized })
      let event = CommerceV1.ReportProviderEventRequest.with {
        $0.providerId = "sandbox"
        $0.providerEventId = "evt_expiry_1"
        $0.kind = .authorizationExpired
        $0.providerPaymentId = payment.providerPaymentId
      }
      let secret = h.service.configuration.webhookSecret
      let webhook = h.service.webhook

      var forged = try WebhookDelivery.signed(event, secret: SymmetricKey(size: .bits256), at: Date())
      await #expect(throws: CommerceError.self) { try await webhook.receive(forged) }
      forged = try WebhookDelivery.signed(event, secret: secret, at: Date())
      forged.body += [0]
      await #expect(throws: CommerceError.self) { try await webhook.receive(forged) }
      let stale = try WebhookDelivery.signed(event, secret: secret, at: Date().addingTimeInterval(-600))
      await #expect(throws: CommerceError.self) { try await webhook.receive(stale) }
      #expect(try await h.get(payment.paymentId).status == .authorized)

      let good = try WebhookDelivery.signed(event, secret: secret, at: Date())
      let first = try await webhook.receive(good)
      #expect(!first.duplicate && first.payment?.status == .voided)
      let again = try await webhook.receive(good)
      #expect(again.duplicate && again.payment?.status == .voided)
      let version = try await h.get(payment.paymentId).version
      #expect(again.payment?.version == version)
      let entries = try await h.pool.query(
        "SELECT count(*) FROM payments.payment_events WHERE provider_event_id = 'evt_expiry_1'").first!.decode(0, as: Int64.self)
      #expect(entries == 1)
    }
  }

  @Test("ReportProviderEvent: late events change nothing, contradictions are flagged, unknown payments are NOT_FOUND")
  func reportProviderEvent() async throws {
    // The sandbox's own event for the asynchronous card comes 5 s after the authorization, well
    // after the decline this test reports at once, even on a loaded machine.
    try await PaymentHarness.run(asynchronousDelay: .seconds(5)) { h in
      func report(_ kind: CommerceV1.ProviderEventKind, _ providerPaymentID: String, id: String = UUID().uuidString)
        async throws -> CommerceV1.ReportProviderEventResponse
      {
        try await h.payments.reportProviderEvent(
          .with {
            $0.providerId = "sandbox"
            $0.providerEventId = id
            $0.kind = kind
            $0.providerPaymentId = providerPaymentID
          }, options: h.gateway)
      }
      let payment = try await h.authorize(captureImmediately: true)
      // Late: the payment is past the authorization.
      let late = try await report(.authorizationSucceeded, payment.providerPaymentId)
      #expect(!late.duplicate && late.payment?.status == .captured && late.payment?.version == payment.version)
      // A contradiction: a decline of a captured payment.
      let contradiction = try await report(.authorizationDeclined, payment.providerPaymentId)
      #expect(contradiction.payment?.status == .captured)
      let flags = try await h.pool.query(
        "SELECT needs_review FROM payments.payments WHERE id = $1", [UUID(id: payment.paymentId)!]).first!.decode(0, as: Bool.self)
      #expect(flags)
      let outcomes = try await h.service.store.ledger(of: UUID(id: payment.paymentId)!).filter { $0.kind == "PROVIDER_EVENT" }
      #expect(outcomes.map(\.outcome) == ["LATE", "CONTRADICTION"] && outcomes.map(\.flagged) == [false, true])

      await expectFailure(.notFound) { try await report(.authorizationSucceeded, "ch_unknown") }
      await expectFailure(.invalidArgument) {
        try await h.payments.reportProviderEvent(
          .with {
            $0.providerId = "acme-pay"
            $0.providerEventId = "e1"
            $0.kind = .authorizationSucceeded
            $0.providerPaymentId = payment.providerPaymentId
          }, options: h.gateway)
      }
      await expectFailure(.invalidArgument) { try await report(.authorizationSucceeded, payment.providerPaymentId, id: "") }
      // A pending payment that the provider declines later.
      let pending = try await h.authorize(PaymentHarness.card("4000000000003220"))
      let declined = try await h.payments.reportProviderEvent(
        .with {
          $0.providerId = "sandbox"
          $0.providerEventId = "decline-1"
          $0.kind = .authorizationDeclined
          $0.declineReason = .fraudSuspected
          $0.providerPaymentId = pending.providerPaymentId
        }, options: h.gateway)
      #expect(declined.payment?.status == .declined && declined.payment?.declineReason == .fraudSuspected)
      // The sandbox's own success event arrives later: a contradiction, flagged; the payment stays declined.
      #expect(try await eventually {
        try await h.service.store.ledger(of: UUID(id: pending.paymentId)!).contains { $0.outcome == "CONTRADICTION" }
      })
      #expect(try await h.get(pending.paymentId).status == .declined)
    }
  }
}
