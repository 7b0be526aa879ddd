public import Foundation

/// Conversions between `Date` and PostgreSQL's timestamp representation.
enum PostgresTime {
  /// Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
  static let epochOffset: Double = 946_684_800

  static func microseconds(from date: Date) -> Int64 {
    if date == .distantFuture { return .max }
    if date == .distantPast { return .min }
    let micros = ((date.timeIntervalSince1970 - Self.epochOffset) * 1_000_000)
      .rounded(.toNearestOrAwayFromZero)
    guard micros > -9.2e18, micros < 9.2e18 else { return micros > 0 ? .max : .min }
    return Int64(micros)
  }

  static func date(fromMicroseconds micros: Int64) -> Date {
    if micros == .max { return .distantFuture }
    if micros == .min { return .distantPast }
    // Split to keep the sub-second part exact before it meets Double's rounding.
    let seconds = micros / 1_000_000
    let fraction = micros % 1_000_000
    return Date(
      timeIntervalSince1970: Double(seconds) + Self.epochOffset + Double(fraction) / 1_000_000)
  }
}

extension Date {
  /// This instant as a `timestamptz` stores it (rounded to the microsecond): what a read of the
  /// stored value returns, for code that answers with a value before reading it back.
  public var inPostgresPrecision: Date { PostgresTime.date(fromMicroseconds: PostgresTime.microseconds(from: self)) }
}
