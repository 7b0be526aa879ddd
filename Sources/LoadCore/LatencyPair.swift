public import Histogram

/// The two views of the same calls: latency from the intended send time (corrected for
/// coordinated omission) and from the actual send time (uncorrected). In the closed model,
/// where a call is intended when it is sent, the two are equal.
public struct LatencyPair: Sendable, Equatable {
  public var corrected: LatencyHistogram
  public var uncorrected: LatencyHistogram

  public init() {
    corrected = .latency()
    uncorrected = .latency()
  }

  public init(corrected: LatencyHistogram, uncorrected: LatencyHistogram) {
    self.corrected = corrected
    self.uncorrected = uncorrected
  }

  /// Records one call: `corrected` and `uncorrected` in nanoseconds.
  @inlinable
  public mutating func record(corrected: UInt64, uncorrected: UInt64) {
    self.corrected.recordNanoseconds(corrected)
    self.uncorrected.recordNanoseconds(uncorrected)
  }

  /// Adds every count of `other` (exact: same layout, element-wise sum).
  public mutating func add(_ other: LatencyPair) {
    corrected.add(other.corrected)
    uncorrected.add(other.uncorrected)
  }

  public var count: UInt64 { corrected.totalCount }
}
