public import CommerceAPI
public import CommerceKit
import Messages
public import Foundation

/// A raw card number and its expiry and security code, checked for shape (payments.proto,
/// TestCard): 12 to 19 digits after spaces are removed, passing the Luhn check; expiry month 1 to
/// 12 and a four-digit year; a CVC of 3 digits (4 for American Express).
///
/// The number is a secret: ``description`` shows only the last four digits, and nothing in the
/// service stores or logs more than ``summary``.
public struct PaymentCard: Sendable, Hashable, CustomStringConvertible {
  /// The digits, without spaces.
  public let number: String
  public let expMonth: Int
  public let expYear: Int
  public let cvc: String

  /// A card with the given fields, or the fields' violations (under `field` + ".number" and so
  /// on). The violations never repeat the number.
  public static func validated(
    number rawNumber: String, expMonth: Int32, expYear: Int32, cvc: String, field: String, into violations: inout FieldViolations
  ) -> PaymentCard? {
    let number = rawNumber.filter { $0 != " " }
    var valid = true
    if !(12...19).contains(number.utf8.count) || !number.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
      violations.add(field + ".number", "must be 12 to 19 digits")
      valid = false
    } else if !luhnValid(number) {
      violations.add(field + ".number", "fails the Luhn check")
      valid = false
    }
    if !(1...12).contains(expMonth) {
      violations.add(field + ".exp_month", "must be 1 to 12")
      valid = false
    }
    if !(1000...9999).contains(expYear) {
      violations.add(field + ".exp_year", "must be a four-digit year")
      valid = false
    }
    let cvcLength = valid && brand(of: number) == .amex ? 4 : 3
    if cvc.utf8.count != cvcLength || !cvc.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
      violations.add(field + ".cvc", "must be \(cvcLength) digits")
      valid = false
    }
    return valid ? PaymentCard(number: number, expMonth: Int(expMonth), expYear: Int(expYear), cvc: cvc) : nil
  }

  /// A card as given, unchecked (the sandbox checks the cards it receives itself).
  package init(number: String, expMonth: Int, expYear: Int, cvc: String) {
    self.number = number
    self.expMonth = expMonth
    self.expYear = expYear
    self.cvc = cvc
  }

  /// Whether the card's expiry month has ended before `date` (a card is valid through the last
  /// day of its expiry month, in UTC).
  public func isExpired(at date: Date) -> Bool {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = calendar.dateComponents([.year, .month], from: date)
    let (year, month) = (parts.year ?? 0, parts.month ?? 0)
    return expYear < year || (expYear == year && expMonth < month)
  }

  /// What may be kept and shown: brand, last four digits, expiry.
  public var summary: CardSummary {
    CardSummary(brand: Self.brand(of: number), lastFour: String(number.suffix(4)), expMonth: expMonth, expYear: expYear)
  }

  public var description: String { "PaymentCard(\(summary.brandName) ••••\(number.suffix(4)))" }

  /// The Luhn (mod 10) check.
  public static func luhnValid(_ digits: String) -> Bool {
    var sum = 0
    for (index, byte) in digits.utf8.reversed().enumerated() {
      guard (0x30...0x39).contains(byte) else { return false }
      var digit = Int(byte - 0x30)
      if index % 2 == 1 {
        digit *= 2
        if digit > 9 { digit -= 9 }
      }
      sum += digit
    }
    return !digits.isEmpty && sum % 10 == 0
  }

  /// The card network by the number's prefix: 4 Visa; 51-55 and 2221-2720 Mastercard; 34 and 37
  /// American Express; 6011 and 65 Discover; anything else OTHER.
  public static func brand(of digits: String) -> CommerceV1.CardBrand {
    let two = Int(digits.prefix(2)) ?? -1
    let four = Int(digits.prefix(4)) ?? -1
    if digits.hasPrefix("4") { return .visa }
    if (51...55).contains(two) || (2221...2720).contains(four) { return .mastercard }
    if two == 34 || two == 37 { return .amex }
    if four == 6011 || two == 65 { return .discover }
    return .other
  }
}

/// The non-secret description of a card: what a payment keeps (PaymentMethodSummary).
public struct CardSummary: Sendable, Hashable {
  public var brand: CommerceV1.CardBrand
  public var lastFour: String
  public var expMonth: Int
  public var expYear: Int

  public init(brand: CommerceV1.CardBrand, lastFour: String, expMonth: Int, expYear: Int) {
    self.brand = brand
    self.lastFour = lastFour
    self.expMonth = expMonth
    self.expYear = expYear
  }

  /// Nothing known yet (a token the provider has not described).
  public static let unknown = CardSummary(brand: .unspecified, lastFour: "", expMonth: 0, expYear: 0)

  /// The brand as the schema stores it: the CardBrand value name without its prefix.
  public var brandName: String { ProtoName.short(CommerceV1.CardBrand.protoValueNames[brand.rawValue], prefix: "CARD_BRAND_") }

  public var proto: CommerceV1.PaymentMethodSummary {
    .with {
      $0.brand = brand
      $0.lastFour = lastFour
      $0.expMonth = Int32(expMonth)
      $0.expYear = Int32(expYear)
    }
  }
}

/// Enum value names as the schema stores them (without the enum's prefix), and back.
enum ProtoName {
  static func short(_ name: String?, prefix: String) -> String {
    guard let name, name.hasPrefix(prefix) else { return "UNSPECIFIED" }
    return String(name.dropFirst(prefix.count))
  }

  static func number(_ short: String, prefix: String, in names: [Int32: String]) -> Int32? {
    names.first { $0.value == prefix + short }?.key
  }
}
