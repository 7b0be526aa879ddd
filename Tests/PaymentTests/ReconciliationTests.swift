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
}
