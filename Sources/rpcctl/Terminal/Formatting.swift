/// Human-readable numbers for diagnostics.
enum Formatting {
  /// Milliseconds with three decimals: `1.234 ms`.
  static func milliseconds(_ duration: Duration) -> String {
    "\(millisecondsValue(duration)) ms"
  }

  /// Milliseconds with three decimals, without the unit.
  static func millisecondsValue(_ duration: Duration) -> String {
    let microseconds = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    let sign = microseconds < 0 ? "-" : ""
    let magnitude = microseconds.magnitude
    let fraction = String(magnitude % 1000)
    return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
  }
}
