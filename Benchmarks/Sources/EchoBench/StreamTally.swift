import Histogram
import LoadCore

/// What one stream loop measured: the latencies of the round trips that completed inside the
/// measured window, in LoadCore's histogram layout, and failures over the whole run.
struct StreamTally: Sendable {
  var histogram = LatencyHistogram.latency()
  var errors = 0

  /// Records a round trip that started at `start` (monotonic ns) and just completed, if it
  /// completed inside the measured window.
  @inline(__always)
  mutating func record(since start: UInt64, phase: StreamPhase) {
    guard phase.isMeasuring else { return }
    histogram.recordNanoseconds(monotonicNanoseconds() &- start)
  }

  /// Counts a failure; gives up (rethrows) past ``UnaryLoad/failureLimit`` of them, so a broken
  /// run fails loudly.
  mutating func failed(_ error: any Error) throws {
    errors += 1
    if errors > UnaryLoad.failureLimit { throw error }
  }

  mutating func merge(_ other: StreamTally) {
    histogram.add(other.histogram)
    errors += other.errors
  }
}
