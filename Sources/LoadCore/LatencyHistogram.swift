public import Histogram

/// The histogram every latency goes into: microseconds, 3 significant digits, from 1 µs, growing
/// as needed (it starts at 10 s and resizes for larger values, so a long stall is never
/// clamped or lost). Every histogram of a run has this layout, so they merge exactly.
public typealias LatencyHistogram = Histogram<UInt64>

extension Histogram where Count == UInt64 {
  /// A new, empty latency histogram in the layout every recorder uses.
  public static func latency() -> Histogram<UInt64> {
    var histogram = Histogram<UInt64>(
      lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: .three)
    histogram.autoResize = true
    return histogram
  }

  /// Records a latency given in nanoseconds (as microseconds, at least 1).
  @inlinable
  public mutating func recordNanoseconds(_ nanoseconds: UInt64) {
    _ = record(Swift.max(1, nanoseconds / 1_000))
  }
}
