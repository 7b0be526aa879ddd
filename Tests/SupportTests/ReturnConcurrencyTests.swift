import CommerceAPI
import CommerceKit
import CommerceSupport
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@Suite("SupportService: concurrent returns of the same units")
struct ReturnConcurrencyTests {
  @Test("many concurrent requests for the same line never together exceed the delivered units, and the refunds never exceed what was paid")
  func concurrentRequests() async throws {
    try await SupportHarness.run { h in
      let (_, ada) = try await h.customer("Ada")
      let product = try await h.product(price: 3333, stock: 20)
      let order = try await h.order([(product, 5)], for: ada)
      let line = order.lines[0]

      // Twenty requests at once, for one or two units each: 5 units were delivered.
      let outcomes = await withTaskGroup(of: Result<CommerceV1.ReturnAuthorization, any Error>.self) { group in
        for index in 0..<20 {
          group.addTask {
            do {
              let request = SupportHarness.returnRequest(order, [(0, Int32(1 + index % 2))])
              return .success(try await h.support.requestReturn(request, options: ada).returnAuthorization!)
            } catch {
              return .failure(error)
            }
          }
        }
        var outcomes: [Result<CommerceV1.ReturnAuthorization, any Error>] = []
        for await outcome in group { outcomes.append(outcome) }
        return outcomes
      }
      let accepted = outcomes.compactMap { try? $0.get() }
      for case .failure(let error) in outcomes {
        let rpc = error as? RPCError
        #expect(rpc?.code == .failedPrecondition && rpc?.commerceReason == "RETURN_QUANTITY_EXCEEDED", "\(error)")
      }
      let units = accepted.reduce(0) { $0 + $1.lines[0].quantity }
      #expect(units <= 5 && units >= 4, "accepted \(units) units")
      #expect(!accepted.isEmpty)

      // Approve and receive every accepted return at once.
      let received = try await withThrowingTaskGroup(of: CommerceV1.ReturnAuthorization.self) { group in
        for r in accepted {
          group.addTask { try await h.receive(try await h.approve(r), [(0, r.lines[0].quantity, .resalable)]) }
        }
        var all: [CommerceV1.ReturnAuthorization] = []
        for try await r in group { all.append(r) }
        return all
      }
      #expect(received.count == accepted.count)
      var refunded: [CommerceV1.ReturnAuthorization] = []
      for r in accepted { refunded.append(try await eventuallyReturn(h, r.returnId, .refunded)) }
      let total = refunded.reduce(Int64(0)) { $0 + ($1.refundTotal?.amountMinor ?? 0) }
      let paidForLine = line.lineTotal!.amountMinor + line.tax!.amountMinor
      #expect(total <= paidForLine)
      #expect(total == SupportHarness.refund(line, units: Int64(units)))
      let payment = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.agent).payment!
      #expect(payment.refundedAmount?.amountMinor == total && payment.refunds.count == accepted.count)
      #expect(try await eventually { try await h.onHand(product) == 15 + Int64(units) })
      // Nothing is left to return, whatever the customer asks.
      await expectFailure(.failedPrecondition, reason: "RETURN_QUANTITY_EXCEEDED") {
        try await h.support.requestReturn(SupportHarness.returnRequest(order, [(0, 2)]), options: ada)
      }
    }
  }
}
