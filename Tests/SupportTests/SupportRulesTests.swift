import CommerceAPI
@testable import CommerceSupport
import Foundation
import Testing

@Suite("SupportService rules: refunds and state machines")
struct SupportRulesTests {
  @Test("a line's tax shares add up to its tax exactly, however its units are split over returns")
  func taxShares() {
    // 3 units at 10.00 with 2.00 tax: 0.66, 0.67, 0.67 of tax, rounded down cumulatively.
    #expect(ReturnRefunds.refund(units: 1, before: 0, unitPrice: 1000, lineQuantity: 3, lineTax: 200) == 1066)
    #expect(ReturnRefunds.refund(units: 1, before: 1, unitPrice: 1000, lineQuantity: 3, lineTax: 200) == 1067)
    #expect(ReturnRefunds.refund(units: 1, before: 2, unitPrice: 1000, lineQuantity: 3, lineTax: 200) == 1067)
    for split in [[1, 1, 1], [2, 1], [1, 2], [3]] {
      var before: Int32 = 0
      var total: Int64 = 0
      for units in split {
        total += ReturnRefunds.refund(units: Int32(units), before: before, unitPrice: 1000, lineQuantity: 3, lineTax: 200)
        before += Int32(units)
      }
      #expect(total == 3200, "split \(split)")
    }
    #expect(ReturnRefunds.refund(units: 0, before: 0, unitPrice: 1000, lineQuantity: 3, lineTax: 200) == 0)
  }

  @Test("the ticket and return state machines allow exactly the documented transitions")
  func machines() {
    let tickets: [CommerceV1.TicketStatus] = [.open, .awaitingCustomer, .resolved, .closed]
    let allowedTickets: Set<[Int32]> = [[1, 2], [1, 3], [1, 4], [2, 1], [2, 3], [2, 4], [3, 1], [3, 4]]
    for from in tickets {
      for to in tickets {
        #expect(TicketTransitions.allows(from: from, to: to) == allowedTickets.contains([from.rawValue, to.rawValue]))
      }
    }
    #expect(TicketTransitions.afterMessage(.resolved, byCustomer: true, internalNote: false) == .open)
    #expect(TicketTransitions.afterMessage(.open, byCustomer: false, internalNote: false) == .awaitingCustomer)
    #expect(TicketTransitions.afterMessage(.open, byCustomer: false, internalNote: true) == .open)
    let returns: [CommerceV1.ReturnStatus] = [.requested, .approved, .rejected, .received, .refunded, .cancelled, .expired]
    let allowedReturns: Set<[Int32]> = [[1, 2], [1, 3], [1, 6], [2, 4], [2, 6], [2, 7], [4, 5]]
    for from in returns {
      for to in returns {
        #expect(ReturnTransitions.allows(from: from, to: to) == allowedReturns.contains([from.rawValue, to.rawValue]))
      }
    }
  }

  @Test("RMA codes are short, readable and distinct")
  func rmaCodes() {
    let codes = (0..<1000).map { _ in SupportService.rmaCode(UUID()) }
    #expect(codes.allSatisfy { $0.count == 14 && $0.hasPrefix("RMA-") })
    #expect(Set(codes).count == codes.count)
  }
}
