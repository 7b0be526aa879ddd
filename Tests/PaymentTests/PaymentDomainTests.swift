import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Testing

@testable import CommercePayments

/// The pure parts: card checks, brands, and what provider events do.
@Suite("Payments domain")
struct PaymentDomainTests {
  @Test("Luhn, brands and card shapes")
  func cards() {
    #expect(PaymentCard.luhnValid("4242424242424242"))
    #expect(PaymentCard.luhnValid("4000000000000002") && PaymentCard.luhnValid("4000000000009995") && PaymentCard.luhnValid("4000000000003220"))
    #expect(!PaymentCard.luhnValid("4242424242424241"))
    #expect(PaymentCard.brand(of: "4242424242424242") == .visa)
    #expect(PaymentCard.brand(of: "5105105105105100") == .mastercard)
    #expect(PaymentCard.brand(of: "2223003122003222") == .mastercard)
    #expect(PaymentCard.brand(of: "2721000000000000") == .other)
    #expect(PaymentCard.brand(of: "378282246310005") == .amex)
    #expect(PaymentCard.brand(of: "341111111111111") == .amex)
    #expect(PaymentCard.brand(of: "6011111111111117") == .discover)
    #expect(PaymentCard.brand(of: "6500000000000002") == .discover)
    #expect(PaymentCard.brand(of: "3530111333300000") == .other)
    var violations = FieldViolations()
    let card = PaymentCard.validated(number: "4242 4242 4242 4242", expMonth: 2, expYear: 2030, cvc: "123", field: "c", into: &violations)
    #expect(card?.number == "4242424242424242" && violations.isEmpty)
    #expect(card?.description.contains("4242424242424242") == false)
    let short = PaymentCard.validated(number: "4242 42", expMonth: 0, expYear: 99, cvc: "1", field: "c", into: &violations)
    #expect(short == nil && violations.violations.map(\.field) == ["c.number", "c.exp_month", "c.exp_year", "c.cvc"])
  }

  @Test("Expiry: valid through the end of the expiry month")
  func expiry() throws {
    var violations = FieldViolations()
    let card = try #require(PaymentCard.validated(number: "4242424242424242", expMonth: 3, expYear: 2031, cvc: "123", field: "c", into: &violations))
    let utc = TimeZone(identifier: "UTC")!
    func date(_ year: Int, _ month: Int, _ day: Int) -> Date {
      DateComponents(calendar: Calendar(identifier: .gregorian), timeZone: utc, year: year, month: month, day: day).date!
    }
    #expect(!card.isExpired(at: date(2031, 3, 31)))
    #expect(card.isExpired(at: date(2031, 4, 1)))
    #expect(!card.isExpired(at: date(2030, 12, 1)))
  }

  @Test("Provider events move payments forward only")
  func eventRules() {
    typealias Rule = ProviderEventRule
    #expect(Rule.effect(of: .authorizationSucceeded, on: .pending, captureImmediately: false) == .move(.authorized))
    #expect(Rule.effect(of: .authorizationSucceeded, on: .pending, captureImmediately: true) == .move(.captured))
    #expect(Rule.effect(of: .authorizationSucceeded, on: .captured, captureImmediately: false) == .late)
    #expect(Rule.effect(of: .authorizationSucceeded, on: .declined, captureImmediately: false) == .contradiction)
    #expect(Rule.effect(of: .authorizationDeclined, on: .pending, captureImmediately: false) == .move(.declined))
    #expect(Rule.effect(of: .authorizationDeclined, on: .authorized, captureImmediately: false) == .contradiction)
    #expect(Rule.effect(of: .authorizationFailed, on: .failed, captureImmediately: false) == .late)
    #expect(Rule.effect(of: .authorizationExpired, on: .authorized, captureImmediately: false) == .move(.voided))
    #expect(Rule.effect(of: .authorizationExpired, on: .voided, captureImmediately: false) == .late)
    #expect(Rule.effect(of: .authorizationExpired, on: .captured, captureImmediately: false) == .contradiction)
    #expect(Rule.effect(of: .captureSucceeded, on: .authorized, captureImmediately: false) == .move(.captured))
    #expect(Rule.effect(of: .captureSucceeded, on: .refunded, captureImmediately: false) == .late)
    #expect(Rule.effect(of: .captureFailed, on: .captured, captureImmediately: false) == .review)
    #expect(Rule.effect(of: .disputeOpened, on: .captured, captureImmediately: false) == .review)
    #expect(Rule.effect(of: .refundSucceeded, on: .captured, captureImmediately: false, refund: .pending) == .settleRefund(.succeeded))
    #expect(Rule.effect(of: .refundSucceeded, on: .captured, captureImmediately: false, refund: .succeeded) == .late)
    #expect(Rule.effect(of: .refundFailed, on: .captured, captureImmediately: false, refund: .succeeded) == .contradiction)
    #expect(Rule.stateAfterRefunds(captured: 100, succeeded: 0) == .captured)
    #expect(Rule.stateAfterRefunds(captured: 100, succeeded: 40) == .partiallyRefunded)
    #expect(Rule.stateAfterRefunds(captured: 100, succeeded: 100) == .refunded)
    for state in PaymentState.allCases where state.isFinal {
      #expect(PaymentState.allCases.allSatisfy { !state.allows($0) })
    }
  }
}
