/// A histogram of durations with fixed, roughly logarithmic buckets from 50 µs to 10 s.
public struct LatencyHistogram: Sendable, Hashable {
  /// The upper bounds of the buckets, in microseconds; a last bucket holds everything above.
  public static let boundsMicroseconds: [Int64] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
  ]

  /// The count in each bucket (one more than ``boundsMicroseconds``).
  public private(set) var counts = [Int](repeating: 0, count: Self.boundsMicroseconds.count + 1)
  /// The number of durations recorded.
  public private(set) var count = 0
  /// Their sum.
  public private(set) var sum = Duration.zero

  /// Creates an empty histogram.
  public init() {}

  /// Records one duration.
  public mutating func record(_ duration: Duration) {
    let micros =
      duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    var index = Self.boundsMicroseconds.count
    for (bucket, bound) in Self.boundsMicroseconds.enumerated() where micros <= bound {
      index = bucket
      break
    }
    self.counts[index] += 1
    self.count += 1
    self.sum += duration
  }

  /// The upper bound of the bucket holding the `quantile` (0...1) of recorded durations; nil
  /// when empty or past the last bound.
  public func quantile(_ quantile: Double) -> Duration? {
    guard self.count > 0 else { return nil }
    let target = Int((Double(self.count) * quantile).rounded(.up))
    var seen = 0
    for (index, count) in self.counts.enumerated() {
      seen += count
      if seen >= max(target, 1) {
        return index < Self.boundsMicroseconds.count
          ? .microseconds(Self.boundsMicroseconds[index]) : nil
      }
    }
    return nil
  }
}
