import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommercePayments

/// Who may call what (the access options of payments.proto, enforced by the interceptor) and the
/// handlers' owner checks.
@Suite("PaymentService access rules")
struct AccessTests {
  @Test("Customers read only their own payments; everyone else's read as NOT_FOUND")
  func ownership() async throws {
    try await PaymentHarness.run { h in
      let order = UUID().uuidString.lowercased()
      let payment = try await h.authorize(order: order)
      #expect(try await h.get(payment.paymentId, as: h.customer).paymentId == payment.paymentId)
      let stranger = try await h.host.user(roles: [.customer])
      await expectFailure(.notFound) { try await h.get(payment.paymentId, as: stranger) }
      await expectFailure(.notFound) { try await h.get(UUID().uuidString.lowercased(), as: h.customer) }
      #expect(try await h.get(payment.paymentId, as: h.admin).paymentId == payment.paymentId)
      #expect(try await h.get(payment.paymentId, as: h.orders).paymentId == payment.paymentId)
      #expect(try await h.get(payment.paymentId, as: try await h.host.service("support")).paymentId == payment.paymentId)

      let list = try await h.payments.listPayments(.with { $0.orderId = order }, options: h.customer)
      #expect(list.payments.map(\.paymentId) == [payment.paymentId])
      await expectFailure(.notFound) { try await h.payments.listPayments(.with { $0.orderId = order }, options: stranger) }
      await expectFailure(.unauthenticated) { try await h.payments.getPayment(.with { $0.paymentId = payment.paymentId }) }
    }
  }

  @Test("Money-moving methods admit OrderService, SupportService (refunds), ADMIN; provider events only the gateway")
  func serviceRules() async throws {
    try await PaymentHarness.run { h in
      let user = try await h.host.user(roles: [.customer])
      let payment = try await h.authorize(captureImmediately: true)
      await expectFailure(.permissionDenied) { try await h.payments.authorizePayment(h.authorizeRequest(), options: user) }
      await expectFailure(.permissionDenied) { try await h.payments.authorizePayment(h.authorizeRequest(), options: h.gateway) }
      await expectFailure(.unauthenticated) { try await h.payments.authorizePayment(h.authorizeRequest()) }
      #expect(try await h.payments.authorizePayment(h.authorizeRequest(), options: h.admin).payment?.status == .authorized)
      await expectFailure(.permissionDenied) {
        try await h.payments.capturePayment(.with { $0.paymentId = payment.paymentId; $0.idempotencyKey = "k" }, options: user)
      }
      await expectFailure(.permissionDenied) {
        try await h.payments.voidPayment(.with { $0.paymentId = payment.paymentId }, options: try await h.host.service("support"))
      }
      await expectFailure(.permissionDenied) { try await h.refund(payment.paymentId, as: user) }
      let support = try await h.refund(payment.paymentId, amount: TestApp.usd(10), as: try await h.host.service("support"))
      #expect(support.refund?.status == .succeeded)
      let event = CommerceV1.ReportProviderEventRequest.with {
        $0.providerId = "sandbox"
        $0.providerEventId = "e-access"
        $0.kind = .disputeOpened
        $0.providerPaymentId = payment.providerPaymentId
      }
      await expectFailure(.permissionDenied) { try await h.payments.reportProviderEvent(event, options: h.orders) }
      await expectFailure(.permissionDenied) { try await h.payments.reportProviderEvent(event, options: h.admin) }
      #expect(try await h.payments.reportProviderEvent(event, options: h.gateway).duplicate == false)
    }
  }

  @Test("ListPayments pages newest first with keyset tokens bound to the order")
  func paging() async throws {
    try await PaymentHarness.run { h in
      let order = UUID().uuidString.lowercased()
      var ids: [String] = []
      for _ in 0..<5 { ids.append(try await h.authorize(order: order).paymentId) }
      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await h.payments.listPayments(
          .with {
            $0.orderId = order
            $0.pageSize = 2
            $0.pageToken = token
          }, options: h.orders)
        #expect(page.payments.count <= 2)
        seen += page.payments.map(\.paymentId)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == ids.reversed())
      let first = try await h.payments.listPayments(.with { $0.orderId = order; $0.pageSize = 2 }, options: h.orders)
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.payments.listPayments(.with { $0.orderId = "other"; $0.pageToken = first.nextPageToken }, options: h.orders)
      }
      await expectFailure(.invalidArgument) { try await h.payments.listPayments(.with { $0.orderId = order; $0.pageSize = -1 }, options: h.orders) }
    }
  }
}
