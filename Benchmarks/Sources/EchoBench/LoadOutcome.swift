import Histogram
import LoadCore

/// What a client's measured window gave, whichever driver ran it: the latencies of the calls
/// (for streams: round trips) it counted, in LoadCore's histogram layout, failures over the
/// whole run, and the window's length, CPU time and allocations.
struct LoadOutcome: Sendable {
  var histogram: LatencyHistogram
  var errors: Int
  var elapsedSeconds: Double
  var cpuSeconds: Double
  var mallocs: MallocCounts?

  var calls: Int { Int(histogram.totalCount) }
}
