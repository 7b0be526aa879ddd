public import Foundation
public import Messages

extension UUID {
  /// The lower-case text form in which ids travel (common.proto).
  public var lowercasedString: String { uuidString.lowercased() }

  /// A request's id field, or nil when it is not a UUID in its 36-character text form
  /// (hexadecimal digits of either case, dashes after the 8th, 12th, 16th and 20th).
  ///
  /// Read here rather than with `UUID(uuidString:)`, which parses with `sscanf` on Linux: that
  /// was 2.5% of a server's CPU answering cached product pages (docs/PERFORMANCE.md,
  /// "Storefront"), and it also accepts what is not an id, such as a sign before a group.
  public init?(id: String) {
    var text = id
    guard let uuid = text.withUTF8({ Self.bytes(ofID: $0) }) else { return nil }
    self.init(uuid: uuid)
  }

  private static func bytes(ofID text: UnsafeBufferPointer<UInt8>) -> uuid_t? {
    guard text.count == 36 else { return nil }
    var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    let valid = withUnsafeMutableBytes(of: &uuid) { output -> Bool in
      var byte = 0
      var index = 0
      while index < 36 {
        if index == 8 || index == 13 || index == 18 || index == 23 {
          guard text[index] == UInt8(ascii: "-") else { return false }
          index += 1
          continue
        }
        guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else { return false }
        output[byte] = high << 4 | low
        byte += 1
        index += 2
      }
      return true
    }
    return valid ? uuid : nil
  }

  private static func hexValue(_ character: UInt8) -> UInt8? {
    switch character {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): character &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): character &- UInt8(ascii: "a") &+ 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): character &- UInt8(ascii: "A") &+ 10
    default: nil
    }
  }
}

extension GoogleProtobuf.Timestamp {
  /// The timestamp of a date, to the nanosecond Date can hold.
  public init(_ date: Date) {
    self.init()
    let interval = date.timeIntervalSince1970
    let seconds = interval.rounded(.down)
    self.seconds = Int64(seconds)
    self.nanos = Int32(min(999_999_999, max(0, ((interval - seconds) * 1e9).rounded())))
  }

  /// The date of the timestamp.
  public var date: Date {
    Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9)
  }
}
