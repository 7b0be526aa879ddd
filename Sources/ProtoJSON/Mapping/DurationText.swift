/// google.protobuf.Duration as proto3 JSON writes it: seconds with 0, 3, 6 or 9 fractional
/// digits and an `s` suffix (`1.5s`, `-0.250s`). Parsing accepts 1 to 9 fractional digits.
/// Valid within ±315,576,000,000 seconds (about 10,000 years).
package enum DurationText {
  static let maxSeconds: Int64 = 315_576_000_000

  package static func format(seconds: Int64, nanos: Int32) throws(ProtoJSONError) -> String {
    guard abs(seconds) <= maxSeconds, abs(nanos) <= 999_999_999, seconds == 0 || nanos == 0 || (seconds < 0) == (nanos < 0)
    else { throw ProtoJSONError("duration out of range (seconds \(seconds), nanos \(nanos))") }
    let negative = seconds < 0 || nanos < 0
    return (negative ? "-" : "") + String(seconds.magnitude) + TimestampText.fraction(Int32(nanos.magnitude)) + "s"
  }

  static func parse(_ text: String) throws(ProtoJSONError) -> (seconds: Int64, nanos: Int32) {
    let invalid = ProtoJSONError("'\(text)' is not a duration such as \"1.5s\" or \"-0.250s\"")
    var body = Substring(text)
    guard body.hasSuffix("s") else { throw invalid }
    body.removeLast()
    let negative = body.hasPrefix("-")
    if negative { body.removeFirst() }
    let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, whole.allSatisfy(\.isASCIIDigit),
      let seconds = Int64(whole)
    else { throw invalid }
    var nanos: Int64 = 0
    if parts.count == 2 {
      let fraction = parts[1]
      guard (1...9).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit), let value = Int64(fraction) else {
        throw invalid
      }
      nanos = value
      for _ in fraction.count..<9 { nanos *= 10 }
    }
    guard seconds <= maxSeconds else { throw ProtoJSONError("duration '\(text)' exceeds ±\(maxSeconds)s") }
    return negative ? (-seconds, Int32(-nanos)) : (seconds, Int32(nanos))
  }
}
