import Histogram
import LoadCore

/// The one JSON line a `client` process prints at the end: what it ran and what it measured in
/// the window.
struct ClientReport: Codable, Sendable {
  var implementation: Implementation
  var mode: CallMode
  var payload: Int
  var concurrency: Int
  var compression: CompressionChoice
  var onLoop: Bool
  /// Calls (for bidi: request/response round trips) completed in the window.
  var calls: Int
  /// Failed calls over the whole run (should be 0).
  var errors: Int
  var seconds: Double
  var callsPerSecond: Double
  var p50Micros: UInt64
  var p99Micros: UInt64
  var p999Micros: UInt64
  var maxMicros: UInt64
  var meanMicros: Double
  /// This process's CPU time (user + system) in the window.
  var cpuSeconds: Double
  /// This process's allocations in the window (nil without the interposer).
  var mallocs: MallocCounts?
  /// Emporium only: bytes this connection sent on the wire and before compression (whole run).
  var wireBytesSent: Int?
  var plainBytesSent: Int?
  /// Emporium with `--pool` only: the servers the pool spread calls over, and the connections it
  /// had open when the window ended.
  var poolEndpoints: Int?
  var poolConnections: Int?

  init(options: ClientOptions, outcome: LoadOutcome) {
    implementation = options.implementation
    mode = options.mode
    payload = options.payload
    concurrency = options.concurrency
    compression = options.compression
    onLoop = options.onLoop
    let histogram = outcome.histogram
    calls = outcome.calls
    errors = outcome.errors
    seconds = outcome.elapsedSeconds
    callsPerSecond = Double(calls) / outcome.elapsedSeconds
    p50Micros = histogram.valueAtPercentile(50)
    p99Micros = histogram.valueAtPercentile(99)
    p999Micros = histogram.valueAtPercentile(99.9)
    maxMicros = histogram.max
    meanMicros = histogram.mean
    cpuSeconds = outcome.cpuSeconds
    mallocs = outcome.mallocs
  }
}
