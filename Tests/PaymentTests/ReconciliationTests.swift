import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommercePayments

/// Authorizations that got no answer and were never retried (the caller's server died under
/// the call) are settled by asking the provider under the forwarded key.
@Suite("PaymentService reconciliation")
struct ReconciliationTests {
  @Test("A charge whose answer was lost is found and recorded AUTHORIZED; one that never reached the provider fails; OrderService hears of both")
  func unansweredAuthorizationsSettle() async throws {
    try await PaymentHarness.run(adjust: { $0.reconcileAfter = 0 }, withOrders: true) { h in
      let recorder = try #require(h.orderEvents)
      h.sandbox.injectFault(.timeOutAfterCharging)
      let charged = h.authorizeRequest(key: "charged-then-lost")
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.authorizePayment(charged, options: h.orders)
      }
      h.sandbox.injectFault(.timeOutBeforeCharging)
      let unsent = h.authorizeRequest(key: "never-arrived")
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.payments.authorizePayment(unsent, options: h.orders)
      }
      // An answered asynchronous authorization is left to the provider's events.
      let asynchronous = try await h.authorize(PaymentHarness.card("4000000000003220"), key: "async")
      #expect(asynchronous.status == .pending)

      // Run a round here rather than wait for the background one (either may settle them).
      _ = try await h.service.reconcile()
      let payments = try await h.pool.query("SELECT request_key, status FROM payments.payments ORDER BY request_key").map {
        (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self))
      }
      let byKey = Dictionary(uniqueKeysWithValues: payments)
      #expect(byKey["charged-then-lost"] == "AUTHORIZED")
      #expect(byKey["never-arrived"] == "FAILED")
      #expect(h.sandbox.charges(forKey: "AuthorizePayment:charged-then-lost").count == 1)
      #expect(h.sandbox.charges(forKey: "AuthorizePayment:never-arrived").isEmpty)
      // OrderService learns both outcomes through the relay.
      #expect(
        try await eventually {
          Set(recorder.events.filter { [charged.orderId, unsent.orderId].contains($0.orderId) }.map { "\($0.orderId) \($0.kind)" })
            == ["\(charged.orderId) \(CommerceV1.OrderEventKind.paymentAuthorized)", "\(unsent.orderId) \(CommerceV1.OrderEventKind.paymentFailed)"]
        })
      // A retry of the settled calls answers with the settled payment, without a new charge.
      #expect(try await h.payments.authorizePayment(charged, options: h.orders).payment!.status == .authorized)
      #expect(try await h.payments.authorizePayment(unsent, options: h.orders).payment!.status == .failed)
      #expect(h.sandbox.charges(forKey: "AuthorizePayment:charged-then-lost").count == 1)
      #expect(h.sandbox.charges(forKey: "AuthorizePayment:never-arrived").isEmpty)
    }
  }

  @Test("Refunds whose answer was lost, or that never reached the provider, are asked again under their key: each is made once and recorded SUCCEEDED")
  func unansweredRefundsSettle() async throws {
    // The background round at start finds nothing; this test runs the later rounds itself, as
    // of an hour on, when the refunds below are overdue.
    try await PaymentHarness.run(adjust: { $0.reconcileInterval = .seconds(3600) }) { h in
      let later = Date().addingTimeInterval(3600)
      let paid = try await h.authorize(amount: 5000, key: "refund-case")
      _ = try await h.capture(paid.paymentId)
      h.sandbox.injectFault(.timeOutAfterCharging, on: .refund)
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.refund(paid.paymentId, amount: TestApp.usd(1000), key: "refund-lost")
      }
      h.sandbox.injectFault(.timeOutBeforeCharging, on: .refund)
      await expectFailure(.unavailable, reason: "PAYMENT_PROVIDER_UNAVAILABLE") {
        try await h.refund(paid.paymentId, amount: TestApp.usd(1500), key: "refund-unsent")
      }
      // Both are PENDING, both already count against what may be refunded.
      let pending = try await h.get(paid.paymentId)
      #expect(pending.refunds.map(\.status) == [.pending, .pending])
      #expect(pending.refundedAmount?.amountMinor == 2500)
      await expectFailure(.failedPrecondition, reason: "AMOUNT_EXCEEDS_REMAINING") {
        try await h.refund(paid.paymentId, amount: TestApp.usd(2600))
      }

      #expect(try await h.service.reconcile(asOf: later) == 2)
      let after = try await h.get(paid.paymentId)
      #expect(after.refunds.map(\.status) == [.succeeded, .succeeded])
      #expect(after.status == .partiallyRefunded)
      #expect(after.refundedAmount?.amountMinor == 2500)
      // The provider made each refund once: 2,500 of the 5,000 captured went back.
      let charge = try #require(h.sandbox.charges(forKey: "AuthorizePayment:refund-case").first)
      #expect(charge.refunded == 2500)
      // Nothing is left to settle, and a retry of the lost call answers the settled refund.
      #expect(try await h.service.reconcile(asOf: later) == 0)
      let retried = try await h.refund(paid.paymentId, amount: TestApp.usd(1000), key: "refund-lost")
      #expect(retried.refund?.status == .succeeded)
      #expect(h.sandbox.charges(forKey: "AuthorizePayment:refund-case").first?.refunded == 2500)
    }
  }
}
