import Foundation

/// How load is offered.
public enum LoadModel: Sendable, Equatable {
  /// A fixed number of virtual users, each starting its next journey when the previous one
  /// finished (after `thinkTime`, if any). Throughput follows the system's latency.
  case closed(users: Int, thinkTime: Duration?)
  /// Journeys arrive on a schedule that ignores how the system answers.
  case open(OpenModel)
}

/// The open model's settings.
public struct OpenModel: Sendable, Equatable {
  /// Arrivals per second (at the start of the measured window, and during warm-up).
  public var rate: Double
  /// When set, the rate ramps linearly to this over the measured window.
  public var rampTo: Double?
  public var spacing: ArrivalSchedule.Spacing
  /// At most this many journeys in flight; arrivals beyond wait for a slot (late) or are dropped.
  public var maxInFlight: Int
  /// An arrival that has waited this long for a slot is dropped instead.
  public var maxQueueDelay: Duration
  /// A send this far behind its intended time is counted as late.
  public var lateAfter: Duration
  /// Seeds the Poisson gaps.
  public var seed: UInt64
  /// The dispatcher wakes at most once per quantum and sends every arrival due by then, so
  /// that arrivals closer together than it share one timer and their sends one write. Zero
  /// (the default): one wake-up per arrival, at its time. Sends wait up to the quantum more,
  /// which the corrected latency includes (it counts from the intended time).
  public var sendQuantum: Duration

  public init(
    rate: Double, rampTo: Double? = nil, spacing: ArrivalSchedule.Spacing = .poisson, maxInFlight: Int = 10_000,
    maxQueueDelay: Duration = .seconds(1), lateAfter: Duration = .milliseconds(5), seed: UInt64 = 1,
    sendQuantum: Duration = .zero
  ) {
    self.sendQuantum = sendQuantum
    self.rate = rate
    self.rampTo = rampTo
    self.spacing = spacing
    self.maxInFlight = maxInFlight
    self.maxQueueDelay = maxQueueDelay
    self.lateAfter = lateAfter
    self.seed = seed
  }
}

/// One run's settings: the model, the warm-up (recorded in the time series, not in the
/// totals) and the measured window.
public struct LoadRunConfiguration: Sendable {
  public var model: LoadModel
  public var warmup: Duration
  public var duration: Duration
  /// Recorder shards (workers); by default twice the processors, at least 4.
  public var workers: Int
  /// The time series' interval.
  public var interval: Duration

  public init(model: LoadModel, warmup: Duration, duration: Duration, workers: Int? = nil, interval: Duration = .seconds(1)) {
    self.model = model
    self.warmup = warmup
    self.duration = duration
    self.workers = workers ?? max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    self.interval = interval
  }

  /// The open model's arrival schedule (nil in the closed model).
  public var schedule: ArrivalSchedule? {
    guard case .open(let model) = model else { return nil }
    return ArrivalSchedule(
      rate: model.rate, rampTo: model.rampTo, spacing: model.spacing, warmup: warmup.loadNanoseconds,
      duration: duration.loadNanoseconds, seed: model.seed)
  }
}
