public import Histogram

/// One interval of the time series (one second by default): what was offered and sent, and per
/// operation how many calls completed, how many failed, and the corrected latency percentiles
/// (milliseconds).
public struct IntervalStats: Sendable, Codable, Equatable {
  /// One operation's share of the interval.
  public struct Operation: Sendable, Codable, Equatable {
    public var count: UInt64
    public var errors: UInt64
    public var p50: Double
    public var p99: Double
    public var max: Double
    /// The interval's corrected histogram, every status merged, compressed V2 in base64 (format
    /// 2; absent from format 1): what merging several processes' time series adds up exactly.
    public var histogram: String?
  }

  /// Seconds from the run's start to the interval's start, and its length (as the engine took
  /// it: the boundaries are when the interval was collected, a little after each whole second).
  public var start: Double
  public var length: Double
  /// True when the interval began in the warm-up.
  public var warmup: Bool
  /// Journeys intended (open model: arrivals due) and actually sent in the interval, late
  /// sends and drops.
  public var offered: Int
  public var sent: Int
  public var late: Int
  public var dropped: Int
  /// Open model: how many arrivals the schedule intends in the interval (the integral of its
  /// rate over it, fractional), apart from when the dispatcher got to them (format 2).
  public var scheduled: Double?
  /// By operation name, all statuses together for the percentiles.
  public var operations: [String: Operation]
}

/// What the engine hands its observer at each interval's end: the statistics and the
/// interval's corrected histograms by operation and status: of every call that completed in
/// it (warm-up included), and of the measured calls alone, which over all intervals add up to
/// the run's corrected totals exactly (what an interval log holds).
public struct IntervalSnapshot: Sendable {
  public var stats: IntervalStats
  public var histograms: [OperationKey: LatencyHistogram]
  public var measuredHistograms: [OperationKey: LatencyHistogram]

  /// The interval's measured histograms of `operation`, every status merged.
  public func measuredHistogram(of operation: String) -> LatencyHistogram {
    var merged = LatencyHistogram.latency()
    for (key, histogram) in measuredHistograms where key.operation == operation { merged.add(histogram) }
    return merged
  }
}

/// Counts of the dispatcher: in the measured window, or in one interval.
public struct DispatchCounts: Sendable, Codable, Equatable {
  public var offered = 0
  public var sent = 0
  public var late = 0
  public var dropped = 0

  public init(offered: Int = 0, sent: Int = 0, late: Int = 0, dropped: Int = 0) {
    self.offered = offered
    self.sent = sent
    self.late = late
    self.dropped = dropped
  }
}
