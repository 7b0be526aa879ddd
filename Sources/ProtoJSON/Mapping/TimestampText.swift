/// google.protobuf.Timestamp as proto3 JSON writes it: RFC 3339 in UTC with 0, 3, 6 or 9
/// fractional digits (`1972-01-01T10:00:20.021Z`). Parsing also accepts offsets (`+01:00`)
/// and 1 to 9 fractional digits. Valid from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
enum TimestampText {
  static let minSeconds: Int64 = -62_135_596_800
  static let maxSeconds: Int64 = 253_402_300_799

  static func format(seconds: Int64, nanos: Int32) throws(ProtoJSONError) -> String {
    guard (minSeconds...maxSeconds).contains(seconds), (0...999_999_999).contains(nanos) else {
      throw ProtoJSONError("timestamp out of range (seconds \(seconds), nanos \(nanos))")
    }
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = seconds - days * 86_400
    let (year, month, day) = civil(fromDays: days)
    let time = "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(time)\(fraction(nanos))Z"
  }

  static func parse(_ text: String) throws(ProtoJSONError) -> (seconds: Int64, nanos: Int32) {
    let invalid = ProtoJSONError("'\(text)' is not an RFC 3339 timestamp such as 2024-05-01T12:30:00Z")
    let chars = Array(text.utf8)
    guard chars.count >= 20 else { throw invalid }
    func number(_ range: Range<Int>) throws(ProtoJSONError) -> Int64 {
      var value: Int64 = 0
      for index in range {
        guard chars[index] >= UInt8(ascii: "0"), chars[index] <= UInt8(ascii: "9") else { throw invalid }
        value = value * 10 + Int64(chars[index] - UInt8(ascii: "0"))
      }
      return value
    }
    guard chars[4] == UInt8(ascii: "-"), chars[7] == UInt8(ascii: "-"), chars[10] == UInt8(ascii: "T") || chars[10] == UInt8(ascii: "t"),
      chars[13] == UInt8(ascii: ":"), chars[16] == UInt8(ascii: ":")
    else { throw invalid }
    let year = try number(0..<4)
    let month = try number(5..<7)
    let day = try number(8..<10)
    let hour = try number(11..<13)
    let minute = try number(14..<16)
    let second = try number(17..<19)
    guard year >= 1, (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60,
      second < 60
    else { throw invalid }
    var index = 19
    var nanos: Int64 = 0
    if chars[index] == UInt8(ascii: ".") {
      let start = index + 1
      index = start
      while index < chars.count, chars[index] >= UInt8(ascii: "0"), chars[index] <= UInt8(ascii: "9") { index += 1 }
      let digits = index - start
      guard (1...9).contains(digits) else { throw invalid }
      nanos = try number(start..<index)
      for _ in digits..<9 { nanos *= 10 }
    }
    guard index < chars.count else { throw invalid }
    var offset: Int64 = 0
    switch chars[index] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"):
      guard index + 1 == chars.count else { throw invalid }
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
      guard index + 6 == chars.count, chars[index + 3] == UInt8(ascii: ":") else { throw invalid }
      let hours = try number(index + 1..<index + 3)
      let minutes = try number(index + 4..<index + 6)
      guard hours < 24, minutes < 60 else { throw invalid }
      offset = (hours * 60 + minutes) * 60 * (chars[index] == UInt8(ascii: "-") ? -1 : 1)
    default:
      throw invalid
    }
    let seconds = days(fromCivil: year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
    guard (minSeconds...maxSeconds).contains(seconds) else {
      throw ProtoJSONError("timestamp '\(text)' is outside 0001-01-01T00:00:00Z...9999-12-31T23:59:59Z")
    }
    return (seconds, Int32(nanos))
  }

  /// `.021`, `.021500`, `.021500300` or nothing: the fewest of 0, 3, 6 or 9 digits.
  static func fraction(_ nanos: Int32) -> String {
    if nanos == 0 { return "" }
    if nanos % 1_000_000 == 0 { return "." + pad(Int64(nanos / 1_000_000), 3) }
    if nanos % 1_000 == 0 { return "." + pad(Int64(nanos / 1_000), 6) }
    return "." + pad(Int64(nanos), 9)
  }

  static func pad(_ value: Int64, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, width - text.count)) + text
  }

  private static func daysInMonth(_ year: Int64, _ month: Int64) -> Int64 {
    switch month {
    case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
  static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  /// The proleptic Gregorian date `days` after 1970-01-01.
  static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }
}
