public import CommerceAPI
import Messages
import RPC

/// An exact amount of money: integer minor units and an ISO 4217 currency code, as common.proto
/// defines Money. Arithmetic never rounds and never mixes currencies: combining amounts of two
/// currencies throws ``CommerceError`` CURRENCY_MISMATCH, and overflow throws too, instead of
/// wrapping.
public struct Money: Hashable, Sendable, CustomStringConvertible {
  /// The amount in the currency's minor units (cents for USD).
  public var amountMinor: Int64
  /// The upper-case ISO 4217 code, for example "USD".
  public var currency: String

  /// An amount; the currency must be three upper-case letters (see ``validated(_:field:)``
  /// for values that come from requests).
  public init(amountMinor: Int64, currency: String) {
    self.amountMinor = amountMinor
    self.currency = currency
  }

  /// Zero in `currency`.
  public static func zero(_ currency: String) -> Money { Money(amountMinor: 0, currency: currency) }

  /// The wire form.
  public var proto: CommerceV1.Money {
    .with {
      $0.amountMinor = amountMinor
      $0.currency = currency
    }
  }

  /// A request's Money, checked: a currency of three upper-case letters and an amount that is
  /// not negative (common.proto: "Never negative in this version of the API"). Violations are
  /// added to `violations` under `field` (for example "lines[0].unit_price").
  public static func validated(_ money: CommerceV1.Money, field: String, into violations: inout FieldViolations) -> Money? {
    var valid = true
    if !isCurrencyCode(money.currency) {
      violations.add(field + ".currency", "must be an ISO 4217 code of three upper-case letters")
      valid = false
    }
    if money.amountMinor < 0 {
      violations.add(field + ".amount_minor", "must not be negative")
      valid = false
    }
    return valid ? Money(amountMinor: money.amountMinor, currency: money.currency) : nil
  }

  /// Whether `code` has the shape of an ISO 4217 alphabetic code.
  public static func isCurrencyCode(_ code: String) -> Bool {
    code.utf8.count == 3 && code.utf8.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
  }

  /// The sum; throws CURRENCY_MISMATCH for another currency, INVALID_ARGUMENT on overflow.
  public func adding(_ other: Money) throws(CommerceError) -> Money {
    try checkSameCurrency(other)
    let (sum, overflow) = amountMinor.addingReportingOverflow(other.amountMinor)
    guard !overflow else { throw .amountOutOfRange() }
    return Money(amountMinor: sum, currency: currency)
  }

  /// The difference; throws CURRENCY_MISMATCH for another currency, INVALID_ARGUMENT on overflow.
  public func subtracting(_ other: Money) throws(CommerceError) -> Money {
    try checkSameCurrency(other)
    let (difference, overflow) = amountMinor.subtractingReportingOverflow(other.amountMinor)
    guard !overflow else { throw .amountOutOfRange() }
    return Money(amountMinor: difference, currency: currency)
  }

  /// This amount times a quantity (a line total); throws INVALID_ARGUMENT on overflow.
  public func multiplied(by quantity: Int64) throws(CommerceError) -> Money {
    let (product, overflow) = amountMinor.multipliedReportingOverflow(by: quantity)
    guard !overflow else { throw .amountOutOfRange() }
    return Money(amountMinor: product, currency: currency)
  }

  /// The sum of `amounts`, all in `currency`.
  public static func sum(_ amounts: some Sequence<Money>, currency: String) throws(CommerceError) -> Money {
    var total = Money.zero(currency)
    for amount in amounts { total = try total.adding(amount) }
    return total
  }

  private func checkSameCurrency(_ other: Money) throws(CommerceError) {
    guard other.currency == currency else {
      throw CommerceError(
        .invalidArgument, .currencyMismatch,
        "amounts in \(currency) and \(other.currency) cannot be combined",
        metadata: ["expected": currency, "actual": other.currency])
    }
  }

  public var description: String { "\(amountMinor) \(currency) (minor units)" }
}

extension CommerceError {
  fileprivate static func amountOutOfRange() -> CommerceError {
    CommerceError(.invalidArgument, nil, "the amount is out of range")
  }
}
