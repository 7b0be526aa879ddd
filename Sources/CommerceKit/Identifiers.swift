public import Foundation
public import Messages

extension UUID {
  /// The lower-case text form in which ids travel (common.proto).
  public var lowercasedString: String { uuidString.lowercased() }

  /// A request's id field, or nil when it is not a UUID in its 36-character text form.
  public init?(id: String) {
    guard id.utf8.count == 36 else { return nil }
    self.init(uuidString: id)
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
