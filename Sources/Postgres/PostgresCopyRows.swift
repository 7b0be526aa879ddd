public import Foundation

/// Rows in COPY's text format, built column by column: tab between columns, newline after a
/// row, `\N` for NULL, and backslash escapes for backslash, tab, newline and carriage return.
/// Arrays are written in PostgreSQL's array literal syntax with every element quoted.
///
/// The columns must be appended in the order the `COPY table (columns)` statement names them.
/// Values travel as text, so the server parses them: integers and floats in their usual
/// notation, `bool` as `t`/`f`, `uuid` in its canonical form, `timestamptz` in ISO 8601 with
/// microseconds, UTC.
public struct PostgresCopyRows: Sendable {
  /// The data built so far.
  public private(set) var bytes: [UInt8] = []
  /// The rows ended so far (since the last ``removeAll()``).
  public private(set) var rowCount = 0
  private var atRowStart = true

  /// An empty buffer with room for `capacity` bytes.
  public init(capacity: Int = 0) {
    self.bytes.reserveCapacity(capacity)
  }

  /// Ends the current row.
  public mutating func endRow() {
    self.bytes.append(UInt8(ascii: "\n"))
    self.atRowStart = true
    self.rowCount += 1
  }

  /// Empties the buffer, keeping its storage.
  public mutating func removeAll() {
    self.bytes.removeAll(keepingCapacity: true)
    self.atRowStart = true
    self.rowCount = 0
  }

  private mutating func startColumn() {
    if !self.atRowStart { self.bytes.append(UInt8(ascii: "\t")) }
    self.atRowStart = false
  }

  /// Appends NULL.
  public mutating func appendNull() {
    self.startColumn()
    self.bytes.append(UInt8(ascii: "\\"))
    self.bytes.append(UInt8(ascii: "N"))
  }

  /// Appends text (NULL for nil). NUL characters cannot be stored in `text`; the server
  /// rejects them.
  public mutating func append(_ value: String?) {
    guard let value else { return self.appendNull() }
    self.startColumn()
    Self.appendEscaped(value, to: &self.bytes)
  }

  /// Appends an integer (NULL for nil).
  public mutating func append(_ value: Int64?) {
    guard let value else { return self.appendNull() }
    self.startColumn()
    self.bytes.append(contentsOf: String(value).utf8)
  }

  /// Appends an integer (NULL for nil).
  public mutating func append(_ value: Int32?) {
    self.append(value.map(Int64.init))
  }

  /// Appends a float in its shortest exact notation (NULL for nil).
  public mutating func append(_ value: Double?) {
    guard let value else { return self.appendNull() }
    self.startColumn()
    let text =
      value.isNaN ? "NaN" : value == .infinity ? "Infinity" : value == -.infinity ? "-Infinity" : "\(value)"
    self.bytes.append(contentsOf: text.utf8)
  }

  /// Appends a boolean (NULL for nil).
  public mutating func append(_ value: Bool?) {
    guard let value else { return self.appendNull() }
    self.startColumn()
    self.bytes.append(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
  }

  /// Appends a UUID (NULL for nil).
  public mutating func append(_ value: UUID?) {
    guard let value else { return self.appendNull() }
    self.startColumn()
    self.bytes.append(contentsOf: value.uuidString.utf8)
  }

  /// Appends a `timestamptz` to the microsecond, in UTC (NULL for nil).
  public mutating func append(_ value: Date?) {
    guard let value else { return self.appendNull() }
    self.startColumn()
    Self.appendTimestamp(value, to: &self.bytes)
  }

  /// Appends a text array (NULL for nil); elements may be NULL.
  public mutating func append(_ values: [String?]?) {
    guard let values else { return self.appendNull() }
    self.startColumn()
    // The array literal first (elements quoted, `"` and `\` escaped), then COPY's escapes.
    var literal = "{"
    for (index, value) in values.enumerated() {
      if index > 0 { literal += "," }
      guard let value else {
        literal += "NULL"
        continue
      }
      literal += "\""
      for character in value.unicodeScalars {
        if character == "\"" || character == "\\" { literal += "\\" }
        literal.unicodeScalars.append(character)
      }
      literal += "\""
    }
    literal += "}"
    Self.appendEscaped(literal, to: &self.bytes)
  }

  /// Appends a text array (NULL for nil).
  public mutating func append(_ values: [String]?) {
    self.append(values.map { $0.map(Optional.some) })
  }

  /// Appends a `uuid[]` (NULL for nil).
  public mutating func append(_ values: [UUID]?) {
    guard let values else { return self.appendNull() }
    self.startColumn()
    self.bytes.append(UInt8(ascii: "{"))
    for (index, value) in values.enumerated() {
      if index > 0 { self.bytes.append(UInt8(ascii: ",")) }
      self.bytes.append(contentsOf: value.uuidString.utf8)
    }
    self.bytes.append(UInt8(ascii: "}"))
  }

  private static func appendEscaped(_ value: String, to bytes: inout [UInt8]) {
    for byte in value.utf8 {
      switch byte {
      case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
      case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
      case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
      case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
      default: bytes.append(byte)
      }
    }
  }

  /// `YYYY-MM-DD HH:MM:SS.ffffff+00`, from the proleptic Gregorian calendar in UTC.
  static func appendTimestamp(_ date: Date, to bytes: inout [UInt8]) {
    let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
    let total = Int64(micros)
    var seconds = total / 1_000_000
    var fraction = total % 1_000_000
    if fraction < 0 {
      fraction += 1_000_000
      seconds -= 1
    }
    var days = seconds / 86_400
    var secondOfDay = seconds % 86_400
    if secondOfDay < 0 {
      secondOfDay += 86_400
      days -= 1
    }
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func digits(_ value: Int64, _ count: Int) {
      var text = Array(String(value).utf8)
      while text.count < count { text.insert(UInt8(ascii: "0"), at: 0) }
      bytes.append(contentsOf: text)
    }
    digits(year, 4)
    bytes.append(UInt8(ascii: "-"))
    digits(month, 2)
    bytes.append(UInt8(ascii: "-"))
    digits(day, 2)
    bytes.append(UInt8(ascii: " "))
    digits(secondOfDay / 3600, 2)
    bytes.append(UInt8(ascii: ":"))
    digits(secondOfDay / 60 % 60, 2)
    bytes.append(UInt8(ascii: ":"))
    digits(secondOfDay % 60, 2)
    bytes.append(UInt8(ascii: "."))
    digits(fraction, 6)
    bytes.append(contentsOf: Array("+00".utf8))
  }
}
