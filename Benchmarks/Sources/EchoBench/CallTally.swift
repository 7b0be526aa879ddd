import Histogram

/// What one calling task measured: latencies of the calls that completed inside the measured
/// window (microseconds, 3 significant digits), their number, and errors over the whole run.
struct CallTally: Sendable {
  var histogram = Histogram<UInt64>(
    lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
  var calls = 0
  var errors = 0

  /// Records a call that started at `start` (monotonic ns) and just completed, if it completed
  /// inside the measured window.
  @inline(__always)
  mutating func record(since start: UInt64, control: LoadControl) {
    guard control.isMeasuring else { return }
    let micros = max(1, (monotonicNanoseconds() &- start) / 1_000)
    _ = histogram.record(micros)
    calls += 1
  }

  /// Counts a failed call; gives up (rethrows) past 100 of them, so a broken run fails loudly.
  mutating func failed(_ error: any Error) throws {
    errors += 1
    if errors > 100 { throw error }
  }

  mutating func merge(_ other: CallTally) {
    histogram.add(other.histogram)
    calls += other.calls
    errors += other.errors
  }
}
