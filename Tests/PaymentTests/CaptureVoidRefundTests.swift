import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommercePayments

/// CapturePayment, VoidPayment and RefundPayment, their state transitions and errors.
@Suite("PaymentService capture, void and refund")
struct CaptureVoidRefundTests {
  @Test("Full capture; a second capture is INVALID_STATE_TRANSITION; the same key returns the same answer")
  func fullCapture() async throws {
    try await PaymentHarness.run { h in
      let payment = try await h.authorize(amount: 5000)
      let captured = try await h.capture(payment.paymentId, key: "ship-1")
      #expect(captured.status == .captured && captured.capturedAmount == TestApp.usd(5000))
      #expect(captured.authorizationExpireTime == nil)
      #expect(try await h.capture(payment.paymentId, key: "ship-1") == captured)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.capture(payment.paymentId) }
      #expect(h.sandbox.requestCount(.capture) == 1)
      #expect(try await h.ledger(payment.paymentId).suffix(2) == ["CAPTURE_REQUESTED", "CAPTURE_RESULT"])
    }
  }

  @Test("Partial capture, and the capture errors")
  func partialCapture() async throws {
    // The asynchronous card's result arrives only after the test: its payment stays PENDING.
    try await PaymentHarness.run(asynchronousDelay: .seconds(3600)) { h in
      let payment = try await h.authorize(amount: 5000)
      let error = await expectFailure(.failedPrecondition, reason: "AMOUNT_EXCEEDS_REMAINING") {
        try await h.capture(payment.paymentId, amount: TestApp.usd(5001))
      }
      #expect(error?.commerceMetadata == ["remainingMinor": "5000", "currency": "USD"])
      await expectFailure(.invalidArgument, reason: "CURRENCY_MISMATCH") {
        try await h.capture(payment.paymentId, amount: .with { $0.amountMinor = 100; $0.currency = "EUR" })
      }
      await expectFailure(.notFound) { try await h.capture(UUID().uuidString.lowercased()) }
      await expectFailure(.invalidArgument) {
        try await h.payments.capturePayment(.with { $0.paymentId = payment.paymentId }, options: h.orders)
      }
      let captured = try await h.capture(payment.paymentId, amount: TestApp.usd(3000))
      #expect(captured.status == .captured && captured.capturedAmount == TestApp.usd(3000) && captured.amount == TestApp.usd(5000))

      let declined = try await h.authorize(PaymentHarness.card("4000000000000002"))
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.capture(declined.paymentId) }
      let pending = try await h.authorize(PaymentHarness.card("4000000000003220"))
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.capture(pending.paymentId) }
    }
  }

  @Test("Void releases an authorization once; captured or declined payments cannot be voided")
  func void() async throws {
    try await PaymentHarness.run { h in
      func void(_ id: String) async throws -> CommerceV1.Payment {
        try await h.payments.voidPayment(.with { $0.paymentId = id; $0.reason = "stock reservation failed" }, options: h.orders).payment!
      }
      let payment = try await h.authorize()
      let voided = try await void(payment.paymentId)
      #expect(voided.status == .voided && voided.authorizationExpireTime == nil)
      #expect(try await void(payment.paymentId) == voided)
      #expect(h.sandbox.requestCount(.void) == 1)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.capture(payment.paymentId) }

      let captured = try await h.authorize(captureImmediately: true)
      let error = await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await void(captured.paymentId) }
      #expect(error?.commerceMetadata == ["status": "CAPTURED", "requested": "VOIDED"])
      let declined = try await h.authorize(PaymentHarness.card("4000000000009995"))
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await void(declined.paymentId) }
      await expectFailure(.notFound) { try await void(UUID().uuidString.lowercased()) }
    }
  }

  @Test("Partial refunds up to the captured amount, then REFUNDED; over the limit, currency and state errors")
  func refunds() async throws {
    try await PaymentHarness.run { h in
      let payment = try await h.authorize(amount: 5000)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.refund(payment.paymentId, amount: TestApp.usd(100))
      }
      _ = try await h.capture(payment.paymentId, amount: TestApp.usd(4000))
      let first = try await h.refund(payment.paymentId, amount: TestApp.usd(1500), key: "rma-1")
      #expect(first.refund?.status == .succeeded && first.refund?.amount == TestApp.usd(1500) && first.refund?.reason == .customerReturn)
      #expect(first.payment?.status == .partiallyRefunded && first.payment?.refundedAmount == TestApp.usd(1500))
      #expect(try await h.refund(payment.paymentId, amount: TestApp.usd(1500), key: "rma-1") == first)

      let over = await expectFailure(.failedPrecondition, reason: "AMOUNT_EXCEEDS_REMAINING") {
        try await h.refund(payment.paymentId, amount: TestApp.usd(2501))
      }
      #expect(over?.commerceMetadata == ["remainingMinor": "2500", "currency": "USD"])
      await expectFailure(.invalidArgument, reason: "CURRENCY_MISMATCH") {
        try await h.refund(payment.paymentId, amount: .with { $0.amountMinor = 100; $0.currency = "EUR" })
      }
      let second = try await h.refund(payment.paymentId, amount: TestApp.usd(500))
      #expect(second.payment?.status == .partiallyRefunded)
      // Without an amount: everything left.
      let rest = try await h.refund(payment.paymentId)
      #expect(rest.refund?.amount == TestApp.usd(2000))
      #expect(rest.payment?.status == .refunded && rest.payment?.refundedAmount == TestApp.usd(4000))
      #expect(rest.payment?.refunds.count == 3)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") { try await h.refund(payment.paymentId) }
      await expectFailure(.invalidArgument) {
        try await h.payments.refundPayment(
          .with { $0.paymentId = payment.paymentId; $0.idempotencyKey = "x" }, options: h.orders)
      }
      let charge = h.sandbox.charges.first { $0.id == payment.providerPaymentId }
      #expect(charge?.refunded == 4000)
      #expect(try await h.get(payment.paymentId).refunds.map(\.amount) == [TestApp.usd(1500), TestApp.usd(500), TestApp.usd(2000)])
    }
  }

  @Test("Concurrent refunds never exceed the captured amount")
  func concurrentRefunds() async throws {
    try await PaymentHarness.run { h in
      let payment = try await h.authorize(amount: 1000, captureImmediately: true)
      let succeeded = await withTaskGroup(of: Bool.self) { group in
        for _ in 0..<8 {
          group.addTask { (try? await h.refund(payment.paymentId, amount: TestApp.usd(300))) != nil }
        }
        return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
      }
      #expect(succeeded == 3)
      let stored = try await h.get(payment.paymentId)
      #expect(stored.refundedAmount == TestApp.usd(900) && stored.status == .partiallyRefunded)
    }
  }
}
