public import Histogram

/// The figures of one measured run that a capacity step or a sweep point reports: the load
/// offered, the journeys (every journey operation merged, every status) with their rates and
/// latency percentiles, and the journeys in flight.
public struct RunFigures: Sendable, Codable, Equatable {
  /// "closed" or "open".
  public var model: String
  /// Closed: the users and their think time; open: the arrival rate asked for.
  public var users: Int?
  public var thinkTimeSeconds: Double?
  public var rate: Double?
  /// The measured window's length.
  public var seconds: Double
  public var offered: Int
  public var sent: Int
  public var late: Int
  public var dropped: Int
  /// Journeys measured (intended in the window), of every status, and those that failed.
  public var journeys: UInt64
  public var errors: UInt64
  public var statuses: [String: UInt64]
  /// Arrivals offered per second of the window (open: the rate as the schedule drew it).
  public var offeredRate: Double
  /// Journeys completed per second, every status; and those that succeeded.
  public var throughput: Double
  public var goodput: Double
  /// Failed journeys plus dropped arrivals over journeys plus dropped arrivals.
  public var errorRate: Double
  /// The journeys' latency (ms): from the intended send time, and from the actual send.
  public var corrected: OperationSummary.Percentiles
  public var uncorrected: OperationSummary.Percentiles
  /// Mean latency (ms, corrected) of the journeys that failed, nil when none did.
  public var errorMeanMilliseconds: Double?
  /// Journeys in flight on average over the window (time-weighted, from the actual send).
  public var meanInFlight: Double?
  /// loadgen's CPU seconds in the window.
  public var cpuSeconds: Double?
  public var interrupted: Bool
}

extension RunFigures {
  /// The share of `cores` loadgen's CPU time kept busy over the window; nil when unknown.
  public func loadgenBusy(cores: Double?) -> Double? {
    guard let cores, cores > 0, let cpuSeconds, seconds > 0 else { return nil }
    return cpuSeconds / seconds / cores
  }

  /// From this share of its cores up, loadgen may be what limits a run: reports say so.
  public static let loadgenBusyMark = 0.85

  /// The figures of `result`.
  public init(result: LoadResult) {
    var journeys = LatencyPair()
    var failed = LatencyPair()
    var statuses: [String: UInt64] = [:]
    for (key, pair) in result.operations where !key.operation.contains(".") {
      journeys.add(pair)
      statuses[key.status, default: 0] += pair.count
      if !key.isOK { failed.add(pair) }
    }
    switch result.model {
    case .closed(let users, let thinkTime):
      model = "closed"
      self.users = users
      thinkTimeSeconds = thinkTime?.loadSeconds
    case .open(let open):
      model = "open"
      rate = open.rate
    }
    let seconds = result.measuredSeconds
    self.seconds = seconds
    offered = result.dispatch.offered
    sent = result.dispatch.sent
    late = result.dispatch.late
    dropped = result.dispatch.dropped
    self.journeys = journeys.count
    errors = failed.count
    self.statuses = statuses
    offeredRate = seconds > 0 ? Double(offered) / seconds : 0
    throughput = seconds > 0 ? Double(journeys.count) / seconds : 0
    goodput = seconds > 0 ? Double(journeys.count - failed.count) / seconds : 0
    let arrivals = journeys.count + UInt64(dropped)
    errorRate = arrivals > 0 ? Double(failed.count + UInt64(dropped)) / Double(arrivals) : 0
    corrected = OperationSummary.Percentiles(journeys.corrected)
    uncorrected = OperationSummary.Percentiles(journeys.uncorrected)
    errorMeanMilliseconds = failed.count > 0 ? failed.corrected.mean / 1_000 : nil
    meanInFlight = result.meanInFlight
    cpuSeconds = result.windowCPUSeconds
    interrupted = result.interrupted
  }
}

extension LoadResult {
  /// Every journey operation's corrected histogram merged, every status.
  public var journeyHistogram: LatencyHistogram {
    var merged = LatencyHistogram.latency()
    for (key, pair) in operations where !key.operation.contains(".") { merged.add(pair.corrected) }
    return merged
  }

  /// Journeys that failed (any status but OK).
  public var journeyErrors: UInt64 {
    operations.filter { !$0.key.operation.contains(".") && !$0.key.isOK }.values.reduce(0) { $0 + $1.count }
  }
}

extension ServiceLevelObjective {
  /// Evaluates the objective on a run's journeys (corrected latency, every status) and drops.
  public func evaluate(_ result: LoadResult) -> ObjectiveEvaluation {
    evaluate(journeys: result.journeyHistogram, errors: result.journeyErrors, dropped: result.dispatch.dropped)
  }
}
