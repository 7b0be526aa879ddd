import Histogram

/// What a run measured: the totals of the measured window by operation and status (merged
/// over workers, and per worker), the time series, and the dispatcher's counts.
public struct LoadResult: Sendable {
  public var model: LoadModel
  public var warmup: Duration
  public var duration: Duration
  /// From the run's start to the last journey's end, warm-up included.
  public var elapsedSeconds: Double
  public var operations: [OperationKey: LatencyPair]
  /// The same totals before merging, one dictionary per worker.
  public var workers: [[OperationKey: LatencyPair]]
  public var intervals: [IntervalStats]
  public var dispatch: DispatchCounts
  /// Operation names in the order they were first recorded.
  public var recordedOrder: [String] = []
  /// This process's CPU time (user + system) during the measured window; nil when the run was
  /// cancelled before the window ended.
  public var windowCPUSeconds: Double?
  /// How long the measured window lasted: `duration`, or less when the run was interrupted
  /// (the calling task cancelled). Rates are per second of it.
  public var measuredSeconds: Double
  /// True when the run was cancelled before its end: journeys cancelled in flight are
  /// recorded under CANCELLED.
  public var interrupted: Bool
  /// Journeys in flight on average over the measured window: the time each journey spent
  /// between its actual send and its completion inside the window, summed, over the window's
  /// length (nil for a run that measured no window).
  public var meanInFlight: Double? = nil
  /// Operation names: journeys (no ".") by name, each followed by its steps in the order the
  /// journey takes them (the order they were first recorded; by name for any never seen there).
  public var operationNames: [String] {
    let names = Set(operations.keys.map(\.operation))
    let rank = Dictionary(recordedOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    func journey(_ name: String) -> Substring { name.split(separator: ".", maxSplits: 1).first ?? Substring(name) }
    return names.sorted { lhs, rhs in
      let l = journey(lhs), r = journey(rhs)
      if l != r { return l < r }
      let lj = !lhs.contains("."), rj = !rhs.contains(".")
      if lj != rj { return lj }
      let lr = rank[lhs] ?? Int.max, rr = rank[rhs] ?? Int.max
      return lr != rr ? lr < rr : lhs < rhs
    }
  }

  /// One operation's summary over every status.
  public func summary(of operation: String) -> OperationSummary {
    var all = LatencyPair()
    var statuses: [String: UInt64] = [:]
    for (key, pair) in operations where key.operation == operation {
      all.add(pair)
      statuses[key.status, default: 0] += pair.count
    }
    return OperationSummary(operation: operation, latency: all, statuses: statuses, seconds: measuredSeconds)
  }

  public var summaries: [OperationSummary] { operationNames.map(summary(of:)) }
}

/// One operation's figures: count, rate, errors by status, and percentiles corrected and
/// uncorrected (milliseconds).
public struct OperationSummary: Sendable, Codable, Equatable {
  public struct Percentiles: Sendable, Codable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var mean: Double

    init(_ histogram: LatencyHistogram) {
      p50 = milliseconds(histogram.valueAtPercentile(50))
      p90 = milliseconds(histogram.valueAtPercentile(90))
      p99 = milliseconds(histogram.valueAtPercentile(99))
      p999 = milliseconds(histogram.valueAtPercentile(99.9))
      max = milliseconds(histogram.max)
      mean = histogram.totalCount == 0 ? 0 : histogram.mean / 1_000
    }
  }

  public var operation: String
  public var count: UInt64
  public var errors: UInt64
  /// Completions per second of the measured window.
  public var rate: Double
  public var statuses: [String: UInt64]
  public var corrected: Percentiles
  public var uncorrected: Percentiles

  init(operation: String, latency: LatencyPair, statuses: [String: UInt64], seconds: Double) {
    self.operation = operation
    count = latency.count
    errors = statuses.filter { $0.key != OperationKey.ok }.values.reduce(0, +)
    rate = seconds > 0 ? Double(latency.count) / seconds : 0
    self.statuses = statuses
    corrected = Percentiles(latency.corrected)
    uncorrected = Percentiles(latency.uncorrected)
  }
}

extension Duration {
  /// The duration in seconds, as a double.
  public var loadSeconds: Double { Double(loadNanoseconds) / 1e9 }
}
