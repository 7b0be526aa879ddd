import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Crypto
import Foundation
import Messages
import NIOHTTP1
import PaymentSandbox
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommercePayments

/// The sandbox as its own party on the network: PaymentService reaches its HTTP API through
/// HTTPPaymentProvider (real sockets on 127.0.0.1), and it reports asynchronous results to
/// ReportProviderEvent over RPC, signed.
@Suite("PaymentService with the sandbox over the network")
struct NetworkSandboxTests {
  @Test("Authorize, capture, refund and void over HTTP, on one kept-alive connection; the sandbox's records agree")
  func endToEnd() async throws {
    try await PaymentHarness.run(.network) { h in
      let network = try #require(h.network)
      let payment = try await h.authorize(amount: 4000)
      #expect(payment.status == .authorized && payment.providerId == "sandbox")
      let captured = try await h.capture(payment.paymentId, amount: TestApp.usd(3000))
      #expect(captured.status == .captured && captured.capturedAmount == TestApp.usd(3000))
      let refunded = try await h.refund(payment.paymentId, amount: TestApp.usd(1000))
      #expect(refunded.refund?.status == .succeeded && !(refunded.refund?.providerRefundId.isEmpty ?? true))
      #expect(refunded.payment?.status == .partiallyRefunded)
      let other = try await h.authorize()
      let voided = try await h.payments.voidPayment(.with { $0.paymentId = other.paymentId }, options: h.orders).payment!
      #expect(voided.status == .voided)
      // Five requests one after another: one connection, kept alive and reused.
      #expect(network.server.acceptedConnections == 1)

      // The sandbox's own records, read over its API.
      let records = try #require(try await network.records())
      let charge = try #require(records.charges.first { $0.id == payment.providerPaymentId })
      #expect(charge.status == "captured" && charge.capturedMinor == 3000 && charge.refundedMinor == 1000)
      #expect(charge.idempotencyKey.hasPrefix("AuthorizePayment:") && charge.card.last4 == "4242")
      #expect(records.charges.first { $0.id == other.providerPaymentId }?.status == "voided")
      #expect(records.requests == ["authorize": 2, "capture": 1, "refund": 1, "void": 1])
    }
  }

  @Test("Strangers without the API key are refused and change nothing; a wrong key in PaymentService is UNAVAILABLE")
  func strangers() async throws {
    try await PaymentHarness.run(.network, adjust: { $0.networkProvider?.apiKey = "sk_sandbox_not_the_right_key" }) { h in
      let network = try #require(h.network)
      let body = ProviderWire.AuthorizationRequest(
        amount: .init(Money(amountMinor: 500, currency: "USD")),
        paymentMethod: .init(card: .init(number: "4242424242424242", expMonth: 12, expYear: 2040, cvc: "123")),
        captureImmediately: false, reference: "stranger")
      for key in [nil, "sk_sandbox_guess_0000000000000", ""] as [String?] {
        let refused = try await network.request(.POST, ProviderWire.authorizationsPath, body: body, apiKey: key, idempotencyKey: "AuthorizePayment:x")
        #expect(refused.status == .unauthorized)
        #expect(ProviderWire.decode(ProviderWire.ErrorBody.self, from: refused.body)?.error.type == "unauthorized")
      }
      let control = try await network.request(
        .POST, ProviderWire.faultsPath, body: ProviderWire.FaultRequest(fault: "refuse"), apiKey: "sk_sandbox_guess_0000000000000")
      #expect(control.status == .unauthorized)
      let records = try await network.request(.GET, ProviderWire.chargesPath, apiKey: nil)
      #expect(records.status == .unauthorized)

      // PaymentService presenting a wrong key: nothing happens at the sandbox, the payment waits.
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") { try await h.authorize() }
      #expect(h.sandbox.requestCount(.authorize) == 0 && h.sandbox.charges.isEmpty)
      let status = try await h.pool.query("SELECT status FROM payments.payments").first!.decode(0, as: String.self)
      #expect(status == "PENDING")

      // With the key, the same request is served.
      let accepted = try await network.request(.POST, ProviderWire.authorizationsPath, body: body, idempotencyKey: "AuthorizePayment:x")
      #expect(accepted.status == .ok)
      #expect(ProviderWire.decode(ProviderWire.Authorization.self, from: accepted.body)?.status == "authorized")
      let noKey = try await network.request(.POST, ProviderWire.authorizationsPath, body: body)
      #expect(noKey.status == .badRequest)
    }
  }

  @Test("A lost response over the network: the sandbox charges, the answer never arrives, the retry finds the one charge")
  func lostResponse() async throws {
    try await PaymentHarness.run(.network) { h in
      let network = try #require(h.network)
      // The next authorization is charged and its answer lost, set through the sandbox's API.
      let control = try await network.request(
        .POST, ProviderWire.faultsPath, body: ProviderWire.FaultRequest(fault: "time_out_after_charging", operation: "authorize"))
      #expect(control.status == .ok)
      let request = h.authorizeRequest(key: "lost-on-the-wire")
      let error = await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.authorizePayment(request, options: h.orders)
      }
      #expect(error?.retryDelay != nil)
      let pending = try await h.pool.query("SELECT status FROM payments.payments").first!.decode(0, as: String.self)
      #expect(pending == "PENDING")
      // The sandbox charged.
      let forwardedKey = "AuthorizePayment:lost-on-the-wire"
      let charged = try #require(try await network.records(forKey: forwardedKey))
      #expect(charged.charges.count == 1)

      let payment = try await h.payments.authorizePayment(request, options: h.orders).payment!
      #expect(payment.status == .authorized)
      #expect(payment.providerPaymentId == charged.charges.first?.id)
      // The sandbox's own records: two requests under the key, one charge.
      let records = try #require(try await network.records(forKey: forwardedKey))
      #expect(records.charges.count == 1 && records.requests["authorize"] == 2)
      #expect(try await network.records()?.charges.count == 1)
      #expect(try await h.ledger(payment.paymentId) == [
        "AUTHORIZE_REQUESTED", "PROVIDER_UNAVAILABLE", "AUTHORIZE_REQUESTED", "AUTHORIZE_RESULT",
      ])
    }
  }

  @Test("The asynchronous card's result arrives through a signed ReportProviderEvent, and is applied once though delivered twice")
  func asynchronousResult() async throws {
    try await PaymentHarness.run(.network, withOrders: true, asynchronousDelay: .milliseconds(200)) { h in
      let network = try #require(h.network)
      // The first delivery is applied, but its acknowledgment is lost: the sandbox delivers again.
      network.loseAcknowledgments(1)
      let payment = try await h.authorize(PaymentHarness.card("4000 0000 0000 3220"))
      #expect(payment.status == .pending)
      #expect(await eventually { network.answers.count == 2 })
      #expect(network.answers.map(\.duplicate) == [false, true])
      #expect(network.answers.allSatisfy { $0.payment?.status == .authorized })
      let settled = try await h.get(payment.paymentId)
      #expect(settled.status == .authorized && settled.authorizationExpireTime != nil)
      #expect(try await h.ledger(payment.paymentId).filter { $0 == "PROVIDER_EVENT" }.count == 1)
      let authorizedEvents = try await h.pool.query(
        "SELECT count(*) FROM payments.outbox WHERE aggregate_id = $1 AND topic = 'payment.authorized'", [payment.paymentId]
      ).first!.decode(0, as: Int64.self)
      #expect(authorizedEvents == 1)
      let recorder = try #require(h.orderEvents)
      #expect(await eventually { recorder.events.count == 1 })
      #expect(recorder.events.first?.kind == .paymentAuthorized)
    }
  }

  @Test("Over the network ReportProviderEvent takes only events signed with the shared secret and a fresh timestamp")
  func signedEventsOnly() async throws {
    try await PaymentHarness.run(.network) { h in
      let payment = try await h.authorize()
      let event = CommerceV1.ReportProviderEventRequest.with {
        $0.providerId = "sandbox"
        $0.providerEventId = "evt_network_1"
        $0.kind = .authorizationExpired
        $0.providerPaymentId = payment.providerPaymentId
      }
      func report(_ delivery: WebhookDelivery?) async throws -> CommerceV1.ReportProviderEventResponse {
        var options = h.gateway
        if let delivery {
          options.metadata.add(ProviderWebhook.timestampMetadataKey, String(delivery.timestamp))
          options.metadata.add(ProviderWebhook.signatureMetadataKey, delivery.signature)
        }
        return try await h.payments.reportProviderEvent(event, options: options)
      }
      let secret = h.service.configuration.webhookSecret
      await expectFailure(.unauthenticated) { try await report(nil) }
      await expectFailure(.unauthenticated) { try await report(try WebhookDelivery.signed(event, secret: SymmetricKey(size: .bits256), at: Date())) }
      await expectFailure(.unauthenticated) { try await report(try WebhookDelivery.signed(event, secret: secret, at: Date().addingTimeInterval(-600))) }
      // A signature of another event.
      var other = event
      other.kind = .authorizationSucceeded
      await expectFailure(.unauthenticated) { try await report(try WebhookDelivery.signed(other, secret: secret, at: Date())) }
      #expect(try await h.get(payment.paymentId).status == .authorized)

      let applied = try await report(try WebhookDelivery.signed(event, secret: secret, at: Date()))
      #expect(!applied.duplicate && applied.payment?.status == .voided)
    }
  }

  @Test("The settings pick the network provider; it needs its API key and the shared webhook secret")
  func settings() throws {
    let secret = String(repeating: "s", count: 32)
    let configured = try PaymentService.Configuration(settings: [
      "provider": "http://127.0.0.1:7800", "provider-api-key": NetworkSandbox.apiKey, "webhook-secret": secret,
    ])
    #expect(configured.networkProvider == HTTPPaymentProvider.Configuration(host: "127.0.0.1", port: 7800, apiKey: NetworkSandbox.apiKey))
    #expect(configured.requireSignedEvents)
    let optional = try PaymentService.Configuration(settings: [
      "provider": "http://sandbox.internal:80", "provider-api-key": NetworkSandbox.apiKey, "webhook-secret": secret,
      "signed-events": "optional", "provider-id": "acme",
    ])
    #expect(optional.networkProvider?.host == "sandbox.internal" && optional.networkProvider?.providerID == "acme")
    #expect(!optional.requireSignedEvents)
    let inProcess = try PaymentService.Configuration(settings: [:])
    #expect(inProcess.networkProvider == nil && !inProcess.requireSignedEvents)

    #expect(throws: CommerceError.self) {
      try PaymentService.Configuration(settings: ["provider": "http://127.0.0.1:7800", "webhook-secret": secret])
    }
    #expect(throws: CommerceError.self) {
      try PaymentService.Configuration(settings: ["provider": "http://127.0.0.1:7800", "provider-api-key": NetworkSandbox.apiKey])
    }
    #expect(throws: CommerceError.self) {
      try PaymentService.Configuration(settings: [
        "provider": "https://127.0.0.1:7800", "provider-api-key": NetworkSandbox.apiKey, "webhook-secret": secret,
      ])
    }
  }
}
