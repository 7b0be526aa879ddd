import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommercePayments

/// AuthorizePayment and the sandbox's test cards (payments.proto's file comment).
@Suite("PaymentService authorization")
struct AuthorizeTests {
  @Test("Every test card gets the outcome the contract lists", arguments: SandboxPlacement.allCases)
  func testCards(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      let ok = try await h.authorize(PaymentHarness.card("4242 4242 4242 4242"))
      #expect(ok.status == .authorized)
      #expect(ok.method == .with { $0.brand = .visa; $0.lastFour = "4242"; $0.expMonth = 12; $0.expYear = 2040 })
      #expect(ok.providerId == "sandbox" && !ok.providerPaymentId.isEmpty)
      #expect(ok.authorizationExpireTime != nil && ok.version >= 2)

      let declined = try await h.authorize(PaymentHarness.card("4000 0000 0000 0002"))
      #expect(declined.status == .declined && declined.declineReason == .cardDeclined)
      #expect(!declined.providerMessage.isEmpty)

      let poor = try await h.authorize(PaymentHarness.card("4000000000009995"))
      #expect(poor.status == .declined && poor.declineReason == .insufficientFunds)

      let expired = try await h.authorize(PaymentHarness.card(year: 2020))
      #expect(expired.status == .declined && expired.declineReason == .expiredCard)

      // Another Luhn-valid number (Mastercard) is authorized like 4242.
      let other = try await h.authorize(PaymentHarness.card("5555 5555 5555 4444"))
      #expect(other.status == .authorized && other.method?.brand == .mastercard && other.method?.lastFour == "4444")

      let amex = try await h.authorize(PaymentHarness.card("3782 822463 10005", cvc: "1234"))
      #expect(amex.status == .authorized && amex.method?.brand == .amex)

      let captured = try await h.authorize(captureImmediately: true)
      #expect(captured.status == .captured && captured.capturedAmount == TestApp.usd(5000))

      let token = try await h.authorize(.with { $0.method = .cardToken("tok_sandbox_4000000000000002") })
      #expect(token.status == .declined && token.declineReason == .cardDeclined && token.method?.lastFour == "0002")

      let pending = try await h.authorize(PaymentHarness.card("4000 0000 0000 3220"))
      #expect(pending.status == .pending && !pending.providerPaymentId.isEmpty)
    }
  }

  @Test(
    "Malformed cards fail with INVALID_ARGUMENT naming the field, and nothing is stored or charged",
    arguments: SandboxPlacement.allCases)
  func malformed(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      let luhn = await expectFailure(.invalidArgument) { try await h.authorize(PaymentHarness.card("4242 4242 4242 4241")) }
      #expect(luhn?.invalidFields == ["payment_method.test_card.number"])
      #expect(luhn?.message.contains("4241") == false)
      let month = await expectFailure(.invalidArgument) { try await h.authorize(PaymentHarness.card(month: 13)) }
      #expect(month?.invalidFields == ["payment_method.test_card.exp_month"])
      let year = await expectFailure(.invalidArgument) { try await h.authorize(PaymentHarness.card(year: 30)) }
      #expect(year?.invalidFields == ["payment_method.test_card.exp_year"])
      let cvc = await expectFailure(.invalidArgument) { try await h.authorize(PaymentHarness.card(cvc: "12a")) }
      #expect(cvc?.invalidFields == ["payment_method.test_card.cvc"])
      let amexCVC = await expectFailure(.invalidArgument) { try await h.authorize(PaymentHarness.card("378282246310005", cvc: "123")) }
      #expect(amexCVC?.invalidFields == ["payment_method.test_card.cvc"])
      await expectFailure(.invalidArgument) { try await h.authorize(amount: 0) }
      await expectFailure(.invalidArgument) { try await h.authorize(.init()) }
      let count = try await h.pool.query("SELECT count(*) FROM payments.payments").first!.decode(0, as: Int64.self)
      #expect(count == 0)
      #expect(h.sandbox.requestCount(.authorize) == 0)

      // A token the provider does not know: INVALID_ARGUMENT, and the attempt is FAILED.
      await expectFailure(.invalidArgument) { try await h.authorize(.with { $0.method = .cardToken("tok_unknown") }) }
      let failed = try await h.pool.query("SELECT status FROM payments.payments").first!.decode(0, as: String.self)
      #expect(failed == "FAILED")
    }
  }

  @Test("20 concurrent calls with one key make one payment and one charge at the sandbox")
  func concurrentKey() async throws {
    try await PaymentHarness.run { h in
      let request = h.authorizeRequest(key: "checkout-42-authorize")
      let ids = try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<20 {
          group.addTask { try await h.payments.authorizePayment(request, options: h.orders).payment!.paymentId }
        }
        return try await group.reduce(into: Set<String>()) { $0.insert($1) }
      }
      #expect(ids.count == 1)
      let count = try await h.pool.query("SELECT count(*) FROM payments.payments").first!.decode(0, as: Int64.self)
      #expect(count == 1)
      #expect(h.sandbox.charges(forKey: "AuthorizePayment:checkout-42-authorize").count == 1)
      #expect(h.sandbox.charges.count == 1)
      // The same key with another request is refused.
      var other = request
      other.amount = TestApp.usd(1)
      await expectFailure(.invalidArgument, reason: "IDEMPOTENCY_KEY_REUSED") {
        try await h.payments.authorizePayment(other, options: h.orders)
      }
    }
  }

  @Test("Outside sandbox mode a raw card fails with TEST_CARD_NOT_ALLOWED and is not stored")
  func testCardNotAllowed() async throws {
    try await PaymentHarness.run(adjust: { $0.sandboxMode = false }) { h in
      await expectFailure(.invalidArgument, reason: "TEST_CARD_NOT_ALLOWED") { try await h.authorize() }
      let rows = try await h.pool.query("SELECT (SELECT count(*) FROM payments.payments) + (SELECT count(*) FROM payments.idempotency_keys)")
      #expect(try rows.first!.decode(0, as: Int64.self) == 0)
      #expect(h.sandbox.requestCount(.authorize) == 0)
      // Tokens still work.
      let payment = try await h.authorize(.with { $0.method = .cardToken("tok_sandbox_4242424242424242") })
      #expect(payment.status == .authorized)
    }
  }

  @Test("The sandbox refuses to start without sandbox mode and without a provider")
  func noProvider() async throws {
    await #expect(throws: (any Error).self) {
      try await TestApp.run("payments", services: [PaymentService.makeDeclaration(adjust: { $0.sandboxMode = false })]) { _ in }
    }
  }
}
