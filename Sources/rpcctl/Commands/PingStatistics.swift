/// Summary statistics of round-trip samples.
struct PingStatistics: Hashable, Sendable {
  var minimum: Duration
  var average: Duration
  var median: Duration
  var p90: Duration
  var maximum: Duration

  /// - Precondition: `samples` is not empty.
  init(_ samples: [Duration]) {
    let sorted = samples.sorted()
    minimum = sorted.first!
    maximum = sorted.last!
    average = sorted.reduce(Duration.zero, +) / sorted.count
    median = Self.percentile(sorted, 0.5)
    p90 = Self.percentile(sorted, 0.9)
  }

  /// Nearest-rank percentile of sorted samples.
  static func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration {
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
  }

  /// `0.081/0.120/0.110/0.150/0.201` (milliseconds).
  var line: String {
    [minimum, average, median, p90, maximum].map(Formatting.millisecondsValue).joined(separator: "/")
  }
}
