/// A strict RFC 8259 JSON parser that keeps numbers as text (see ``JSONValue``).
///
/// Nesting is limited (``maxDepth``) so hostile input cannot exhaust the stack. ``parseAll()``
/// reads a sequence of values separated by whitespace, such as JSON lines.
package struct JSONParser {
  /// The deepest nesting of arrays and objects accepted.
  static let maxDepth = 100

  private let bytes: [UInt8]
  private var index = 0

  package init(_ text: String) {
    self.bytes = Array(text.utf8)
  }

  /// Parses exactly one value (surrounded by optional whitespace).
  package static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
    var parser = JSONParser(text)
    let values = try parser.parseAll()
    guard values.count == 1 else {
      throw JSONSyntaxError(
        message: values.isEmpty ? "no value" : "more than one value (\(values.count))", line: 1, column: 1)
    }
    return values[0]
  }

  /// Parses every value in the text, in order; empty or blank text gives none.
  package mutating func parseAll() throws(JSONSyntaxError) -> [JSONValue] {
    var values: [JSONValue] = []
    skipWhitespace()
    while index < bytes.count {
      values.append(try parseValue(depth: 0))
      let end = index
      skipWhitespace()
      if index < bytes.count, index == end {
        throw error("expected whitespace between values")
      }
    }
    return values
  }

  // MARK: Values

  private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    skipWhitespace()
    guard let byte = peek() else { throw error("unexpected end of input") }
    switch byte {
    case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
    case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"):
      try expectLiteral("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try expectLiteral("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try expectLiteral("null")
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
      return .number(try parseNumber())
    default:
      throw error("unexpected character \(describe(byte))")
    }
  }

  private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
    index += 1  // {
    var members: [JSONMember] = []
    skipWhitespace()
    if peek() == UInt8(ascii: "}") {
      index += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
      let key = try parseString()
      skipWhitespace()
      guard peek() == UInt8(ascii: ":") else { throw error("expected ':' after member name") }
      index += 1
      let value = try parseValue(depth: depth)
      members.append(JSONMember(key, value))
      skipWhitespace()
      switch peek() {
      case UInt8(ascii: ","): index += 1
      case UInt8(ascii: "}"):
        index += 1
        return .object(members)
      default: throw error("expected ',' or '}' in object")
      }
    }
  }

  private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
    index += 1  // [
    var elements: [JSONValue] = []
    skipWhitespace()
    if peek() == UInt8(ascii: "]") {
      index += 1
      return .array(elements)
    }
    while true {
      elements.append(try parseValue(depth: depth))
      skipWhitespace()
      switch peek() {
      case UInt8(ascii: ","): index += 1
      case UInt8(ascii: "]"):
        index += 1
        return .array(elements)
      default: throw error("expected ',' or ']' in array")
      }
    }
  }

  /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as text.
  private mutating func parseNumber() throws(JSONSyntaxError) -> String {
    let start = index
    if peek() == UInt8(ascii: "-") { index += 1 }
    guard let first = peek(), isDigit(first) else { throw error("expected a digit") }
    index += 1
    if first == UInt8(ascii: "0"), let next = peek(), isDigit(next) {
      throw error("leading zeros are not allowed in numbers")
    }
    skipDigits()
    if peek() == UInt8(ascii: ".") {
      index += 1
      guard let next = peek(), isDigit(next) else { throw error("expected a digit after '.'") }
      skipDigits()
    }
    if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
      index += 1
      if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
      guard let next = peek(), isDigit(next) else { throw error("expected a digit in the exponent") }
      skipDigits()
    }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private mutating func parseString() throws(JSONSyntaxError) -> String {
    index += 1  // opening quote
    var scalars = String.UnicodeScalarView()
    var runStart = index
    func flushRun(_ end: Int) {
      if end > runStart { scalars.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars) }
    }
    while true {
      guard let byte = peek() else { throw error("unterminated string") }
      switch byte {
      case UInt8(ascii: "\""):
        flushRun(index)
        index += 1
        return String(scalars)
      case UInt8(ascii: "\\"):
        flushRun(index)
        index += 1
        scalars.append(try parseEscape())
        runStart = index
      case 0..<0x20:
        throw error("control character \(describe(byte)) in string; escape it")
      default:
        index += 1
      }
    }
  }

  private mutating func parseEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
    guard let byte = peek() else { throw error("unterminated escape") }
    index += 1
    switch byte {
    case UInt8(ascii: "\""): return "\""
    case UInt8(ascii: "\\"): return "\\"
    case UInt8(ascii: "/"): return "/"
    case UInt8(ascii: "b"): return "\u{08}"
    case UInt8(ascii: "f"): return "\u{0C}"
    case UInt8(ascii: "n"): return "\n"
    case UInt8(ascii: "r"): return "\r"
    case UInt8(ascii: "t"): return "\t"
    case UInt8(ascii: "u"):
      let unit = try parseHex4()
      if UTF16.isLeadSurrogate(unit) {
        guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
          throw error("unpaired surrogate \\u\(String(unit, radix: 16))")
        }
        index += 2
        let trail = try parseHex4()
        guard UTF16.isTrailSurrogate(trail) else { throw error("unpaired surrogate \\u\(String(unit, radix: 16))") }
        let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(trail) - 0xDC00)
        return Unicode.Scalar(value)!
      }
      guard let scalar = Unicode.Scalar(unit) else { throw error("unpaired surrogate \\u\(String(unit, radix: 16))") }
      return scalar
    default:
      throw error("invalid escape \\\(describe(byte))")
    }
  }

  private mutating func parseHex4() throws(JSONSyntaxError) -> UInt16 {
    guard index + 4 <= bytes.count else { throw error("expected 4 hex digits after \\u") }
    var value: UInt16 = 0
    for byte in bytes[index..<index + 4] {
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw error("expected 4 hex digits after \\u")
      }
      value = value << 4 | UInt16(digit)
    }
    index += 4
    return value
  }

  // MARK: Helpers

  private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

  private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

  private mutating func skipDigits() {
    while let byte = peek(), isDigit(byte) { index += 1 }
  }

  private mutating func skipWhitespace() {
    while let byte = peek(),
      byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t")
    {
      index += 1
    }
  }

  private mutating func expectLiteral(_ literal: String) throws(JSONSyntaxError) {
    let expected = Array(literal.utf8)
    guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
      throw error("unexpected characters; did you mean '\(literal)'?")
    }
    index += expected.count
  }

  private func describe(_ byte: UInt8) -> String {
    byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "0x\(String(byte, radix: 16))"
  }

  /// An error at the current position.
  private func error(_ message: String) -> JSONSyntaxError {
    var line = 1
    var lineStart = 0
    for position in 0..<min(index, bytes.count) where bytes[position] == UInt8(ascii: "\n") {
      line += 1
      lineStart = position + 1
    }
    let column = String(decoding: bytes[lineStart..<min(index, bytes.count)], as: UTF8.self).count + 1
    return JSONSyntaxError(message: message, line: line, column: column)
  }
}
