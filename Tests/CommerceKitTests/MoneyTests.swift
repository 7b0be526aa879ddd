import CommerceAPI
import CommerceKit
import Messages
import RPC
import Testing

@Suite struct MoneyTests {
  let usd = { (minor: Int64) in Money(amountMinor: minor, currency: "USD") }

  @Test func arithmeticIsExact() throws {
    #expect(try usd(1999).adding(usd(1)) == usd(2000))
    #expect(try usd(2000).subtracting(usd(1)) == usd(1999))
    #expect(try usd(1999).multiplied(by: 3) == usd(5997))
    #expect(try Money.sum([usd(1), usd(2), usd(3)], currency: "USD") == usd(6))
  }

  @Test func mixingCurrenciesIsCurrencyMismatch() {
    #expect {
      try usd(1).adding(Money(amountMinor: 1, currency: "EUR"))
    } throws: { error in
      let status = (error as! CommerceError).rpcError
      return status.code == .invalidArgument && status.commerceReason == "CURRENCY_MISMATCH"
        && status.commerceMetadata == ["expected": "USD", "actual": "EUR"]
    }
  }

  @Test func overflowIsAnErrorNotAWrap() {
    #expect(throws: CommerceError.self) { try usd(.max).adding(usd(1)) }
    #expect(throws: CommerceError.self) { try usd(.max / 2 + 1).multiplied(by: 2) }
    #expect(throws: CommerceError.self) { try usd(.min).subtracting(usd(1)) }
  }

  @Test func requestMoneyIsValidated() {
    var violations = FieldViolations()
    #expect(Money.validated(.with { $0.amountMinor = 5; $0.currency = "usd" }, field: "price", into: &violations) == nil)
    #expect(Money.validated(.with { $0.amountMinor = -5; $0.currency = "USD" }, field: "total", into: &violations) == nil)
    #expect(Money.validated(.with { $0.amountMinor = 5; $0.currency = "JPY" }, field: "ok", into: &violations) == Money(amountMinor: 5, currency: "JPY"))
    let status = CommerceError.invalidArgument(violations).rpcError
    #expect(status.invalidFields == ["price.currency", "total.amount_minor"])
  }
}
