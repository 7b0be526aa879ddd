import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommercePayments

/// The provider cannot be reached, does not answer, or loses its answer: the call fails with
/// UNAVAILABLE and a RetryInfo, and a retry with the same key never charges twice — with the
/// sandbox in-process and over the network alike.
@Suite("PaymentService provider faults")
struct ProviderFaultTests {
  @Test("A refused connection: UNAVAILABLE with RetryInfo, PENDING; the retry authorizes with one charge", arguments: SandboxPlacement.allCases)
  func refused(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      h.sandbox.injectFault(.refuse)
      let request = h.authorizeRequest(key: "refused")
      let error = await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.authorizePayment(request, options: h.orders)
      }
      #expect(error?.retryDelay != nil)
      let pending = try await h.pool.query("SELECT status FROM payments.payments").first!.decode(0, as: String.self)
      #expect(pending == "PENDING")
      let payment = try await h.payments.authorizePayment(request, options: h.orders).payment!
      #expect(payment.status == .authorized)
      #expect(h.sandbox.charges.count == 1)
      #expect(try await h.ledger(payment.paymentId) == [
        "AUTHORIZE_REQUESTED", "PROVIDER_UNAVAILABLE", "AUTHORIZE_REQUESTED", "AUTHORIZE_RESULT",
      ])
    }
  }

  @Test("A timeout before charging: UNAVAILABLE; the retry charges once", arguments: SandboxPlacement.allCases)
  func timeoutBeforeCharging(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      h.sandbox.injectFault(.timeOutBeforeCharging)
      let request = h.authorizeRequest(key: "slow")
      let error = await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.authorizePayment(request, options: h.orders)
      }
      #expect(error?.retryDelay != nil)
      #expect(h.sandbox.charges.isEmpty)
      let payment = try await h.payments.authorizePayment(request, options: h.orders).payment!
      #expect(payment.status == .authorized)
      #expect(h.sandbox.charges.count == 1)
    }
  }

  @Test("The sandbox charges and the answer is lost: the retry finds the charge by the forwarded key", arguments: SandboxPlacement.allCases)
  func lostResponse(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      h.sandbox.injectFault(.timeOutAfterCharging)
      let request = h.authorizeRequest(key: "lost")
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.authorizePayment(request, options: h.orders)
      }
      // The sandbox has charged; we do not know it yet.
      let charged = h.sandbox.charges(forKey: "AuthorizePayment:lost")
      #expect(charged.count == 1)
      let payment = try await h.payments.authorizePayment(request, options: h.orders).payment!
      #expect(payment.status == .authorized)
      #expect(payment.providerPaymentId == charged.first?.id)
      #expect(h.sandbox.requestCount(.authorize) == 2)
      #expect(h.sandbox.charges.count == 1)
      // Once answered, the outcome is stored with the key: no further provider request.
      _ = try await h.payments.authorizePayment(request, options: h.orders)
      #expect(h.sandbox.requestCount(.authorize) == 2)
    }
  }

  @Test("Capture and refund answers lost: retries never capture or refund twice", arguments: SandboxPlacement.allCases)
  func lostCaptureAndRefund(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      let payment = try await h.authorize(amount: 3000)
      h.sandbox.injectFault(.timeOutAfterCharging, on: .capture)
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") { try await h.capture(payment.paymentId, key: "cap") }
      #expect(try await h.get(payment.paymentId).status == .authorized)
      let captured = try await h.capture(payment.paymentId, key: "cap")
      #expect(captured.status == .captured && captured.capturedAmount == TestApp.usd(3000))

      h.sandbox.injectFault(.refuse, on: .refund)
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.refund(payment.paymentId, amount: TestApp.usd(1000), key: "ref")
      }
      // The pending refund holds its amount: the rest is 2000.
      await expectFailure(.failedPrecondition, reason: "AMOUNT_EXCEEDS_REMAINING") {
        try await h.refund(payment.paymentId, amount: TestApp.usd(2500))
      }
      h.sandbox.injectFault(.timeOutAfterCharging, on: .refund)
      await expectFailure(.unavailable) { try await h.refund(payment.paymentId, amount: TestApp.usd(1000), key: "ref") }
      let refunded = try await h.refund(payment.paymentId, amount: TestApp.usd(1000), key: "ref")
      #expect(refunded.refund?.status == .succeeded)
      #expect(refunded.payment?.status == .partiallyRefunded && refunded.payment?.refundedAmount == TestApp.usd(1000))
      let charge = h.sandbox.charges.first { $0.id == payment.providerPaymentId }
      #expect(charge?.refunded == 1000 && charge?.captured == 3000)
    }
  }

  @Test("Void and capture fail with UNAVAILABLE while the provider refuses", arguments: SandboxPlacement.allCases)
  func otherOperations(_ placement: SandboxPlacement) async throws {
    try await PaymentHarness.run(placement) { h in
      let payment = try await h.authorize()
      h.sandbox.injectFault(.refuse, on: .void)
      let error = await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.voidPayment(.with { $0.paymentId = payment.paymentId }, options: h.orders)
      }
      #expect(error?.retryDelay != nil)
      let voided = try await h.payments.voidPayment(.with { $0.paymentId = payment.paymentId }, options: h.orders).payment!
      #expect(voided.status == .voided)
    }
  }
}
