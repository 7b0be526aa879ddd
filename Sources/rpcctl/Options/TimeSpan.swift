import ArgumentParser

/// A duration on the command line: a number with a unit, `ns`, `us`, `ms`, `s`, `m` or `h`
/// (`5s`, `250ms`, `1.5s`, `2m`); a bare number means seconds. Must be greater than zero.
struct TimeSpan: ExpressibleByArgument, Hashable, Sendable, CustomStringConvertible {
  var duration: Duration
  private var text: String

  init(_ duration: Duration, text: String) {
    self.duration = duration
    self.text = text
  }

  init?(argument: String) {
    let units: [(suffix: String, nanoseconds: Double)] = [
      ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]
    var number = Substring(argument)
    var scale = 1e9
    for unit in units where argument.hasSuffix(unit.suffix) {
      // Two-letter units come first, so "250ms" is not read as "250m" + "s".
      let candidate = argument.dropLast(unit.suffix.count)
      if Double(candidate) != nil {
        number = candidate
        scale = unit.nanoseconds
        break
      }
    }
    guard let value = Double(number), value.isFinite, value > 0, !number.hasPrefix("+"), value * scale < 1e18 else {
      return nil
    }
    self.init(.nanoseconds(Int64((value * scale).rounded())), text: argument)
  }

  var description: String { text }
}
