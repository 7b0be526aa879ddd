/// Conversions between proto3 JSON number text and Swift numbers, exact for 64-bit integers.
enum NumberText {
  /// An integer read from decimal text.
  enum IntegerResult: Equatable {
    case integer(negative: Bool, magnitude: UInt64)
    /// Valid number syntax, but with a fractional part (`1.5`).
    case notIntegral
    /// Beyond 64 bits.
    case outOfRange
    /// Not a number at all.
    case invalid
  }

  /// Reads JSON number syntax exactly, accepting integral values written with a fraction or an
  /// exponent (`1.0`, `1e3`), as proto3 JSON parsers must.
  static func integer(_ text: String) -> IntegerResult {
    guard isNumberSyntax(text) else { return .invalid }
    var rest = Substring(text)
    let negative = rest.first == "-"
    if negative { rest.removeFirst() }
    var exponent = 0
    if let e = rest.firstIndex(where: { $0 == "e" || $0 == "E" }) {
      let exponentText = rest[rest.index(after: e)...]
      rest = rest[..<e]
      guard let value = Int(exponentText.count > 6 ? (exponentText.hasPrefix("-") ? "-999999" : "999999") : exponentText)
      else { return .invalid }
      exponent = value
    }
    var digits = Array(rest.utf8)
    if let dot = digits.firstIndex(of: UInt8(ascii: ".")) {
      exponent -= digits.count - dot - 1
      digits.remove(at: dot)
    }
    while digits.first == UInt8(ascii: "0") { digits.removeFirst() }
    guard !digits.isEmpty else { return .integer(negative: negative, magnitude: 0) }
    if exponent < 0 {
      let dropped = -exponent
      guard dropped <= digits.count, digits.suffix(dropped).allSatisfy({ $0 == UInt8(ascii: "0") }) else {
        return .notIntegral
      }
      digits.removeLast(dropped)
      if digits.isEmpty { return .integer(negative: negative, magnitude: 0) }
    } else if exponent > 0 {
      guard digits.count + exponent <= 20 else { return .outOfRange }
      digits += Array(repeating: UInt8(ascii: "0"), count: exponent)
    }
    guard let magnitude = UInt64(String(decoding: digits, as: UTF8.self)) else { return .outOfRange }
    return .integer(negative: negative, magnitude: magnitude)
  }

  /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
  static func isNumberSyntax(_ text: String) -> Bool {
    var bytes = Array(text.utf8)[...]
    func digits() -> Int {
      let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
      bytes = bytes.dropFirst(count)
      return count
    }
    if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
    let first = bytes.first
    let integerDigits = digits()
    guard integerDigits > 0, !(first == UInt8(ascii: "0") && integerDigits > 1) else { return false }
    if bytes.first == UInt8(ascii: ".") {
      bytes = bytes.dropFirst()
      guard digits() > 0 else { return false }
    }
    if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
      bytes = bytes.dropFirst()
      if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
      guard digits() > 0 else { return false }
    }
    return bytes.isEmpty
  }

  /// A floating-point value from JSON number text or one of the strings `NaN`, `Infinity`,
  /// `-Infinity`; nil for anything else.
  static func double(_ text: String) -> Double? {
    switch text {
    case "NaN": return .nan
    case "Infinity": return .infinity
    case "-Infinity": return -.infinity
    default: return isNumberSyntax(text) ? Double(text) : nil
    }
  }

  /// JSON for a double: the shortest text that reads back the same value; the special values
  /// as the strings proto3 JSON uses.
  static func json(_ value: Double) -> JSONValue {
    if value.isNaN { return .string("NaN") }
    if value.isInfinite { return .string(value < 0 ? "-Infinity" : "Infinity") }
    return .number(trimmed(value.description))
  }

  /// JSON for a float: the shortest text that reads back the same `Float`.
  static func json(_ value: Float) -> JSONValue {
    if value.isNaN { return .string("NaN") }
    if value.isInfinite { return .string(value < 0 ? "-Infinity" : "Infinity") }
    return .number(trimmed(value.description))
  }

  /// `3.0` → `3`; `1e-05` and `1.5` unchanged.
  private static func trimmed(_ text: String) -> String {
    text.hasSuffix(".0") ? String(text.dropLast(2)) : text
  }
}
