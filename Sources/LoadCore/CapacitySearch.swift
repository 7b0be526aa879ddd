/// The search for the highest arrival rate that meets an objective, as a pure state machine:
/// it names the next rate to measure, is told whether that rate passed, and finally answers.
///
/// 1. **Step up**: from `startRate`, multiply by `stepFactor` while the rate passes, up to
///    `maxRate`. When the first rate already fails, **step down** (divide) until one passes or
///    `minRate` fails too.
/// 2. **Bisect** between the highest passing and the lowest failing rate (geometric midpoints)
///    until they are within `resolution` of each other (relative).
/// 3. **Confirm** the highest passing rate with a longer run. When it fails, step down and
///    confirm again, each time further (with `confirmStepDown` 0.9: by 10%, then 20%, then
///    30% of the rate, so four runs span a factor of two), at most `confirmations` times.
/// 4. **Verify** the bracket's failing end: measure the lowest failing rate above the
///    confirmed one again. When it fails again, the answer stands. When it passes, its
///    earlier failure was noise, and so may be every failure measured before: the search
///    forgets them and steps up again from that rate (at most `maxResumes` times). The answer
///    is the highest rate confirmed before or after: when no confirmation of the resumed
///    search holds, the rate confirmed before it still does.
///
/// Measurements are noisy, and the two kinds of error are not alike: a rate that passed by
/// luck is caught by the confirmation, which measures it again for longer; a rate that failed
/// by bad luck (a pause of the machine, another process's burst) would cap the search for
/// good. So a failing search step is measured once more at once (`recheckFailures`), and
/// believed only when it fails again; and the failing end of the answer is measured once more
/// at the end, when a stall that spanned both measurements is likely over. Rates that failed
/// and then passed are reported as noisy. Each midpoint lies strictly between the highest
/// rate passing and the lowest failing, so the search never loops. The caller measures; see
/// ``run(_:measure:)``.
public struct CapacitySearch: Sendable {
  /// How the search steps and when it stops.
  public struct Configuration: Sendable, Codable, Equatable {
    public var startRate: Double
    public var maxRate: Double
    /// Stepping down from a failing start stops here.
    public var minRate: Double
    /// Each step up multiplies the rate by this (each step down divides).
    public var stepFactor: Double
    /// Bisection stops when (lowest failing − highest passing) / highest passing is at most this.
    public var resolution: Double
    /// At most this many confirmation runs in all.
    public var confirmations: Int
    /// After the first failed confirmation the next is at this fraction of its rate; after
    /// the k-th, at 1 − k(1 − confirmStepDown).
    public var confirmStepDown: Double
    /// Measure a failing search step once more before believing it.
    public var recheckFailures: Bool
    /// Measure the bracket's failing end again after the confirmation.
    public var verifyFailingEnd: Bool
    /// At most this many times the search goes on from a failing end that passed.
    public var maxResumes: Int
    /// A bound on the measurements before confirming (a safety net).
    public var maxProbes: Int

    public init(
      startRate: Double = 10, maxRate: Double = 100_000, minRate: Double = 1, stepFactor: Double = 2,
      resolution: Double = 0.05, confirmations: Int = 4, confirmStepDown: Double = 0.9, recheckFailures: Bool = true,
      verifyFailingEnd: Bool = true, maxResumes: Int = 2, maxProbes: Int = 60
    ) {
      self.startRate = startRate
      self.maxRate = maxRate
      self.minRate = minRate
      self.stepFactor = stepFactor
      self.resolution = resolution
      self.confirmations = confirmations
      self.confirmStepDown = confirmStepDown
      self.recheckFailures = recheckFailures
      self.verifyFailingEnd = verifyFailingEnd
      self.maxResumes = maxResumes
      self.maxProbes = maxProbes
    }

    /// Why the configuration cannot run, or nil.
    public var problem: String? {
      if !(minRate > 0) { return "the minimum rate must be positive" }
      if !(minRate <= startRate && startRate <= maxRate) { return "the rates must satisfy min <= start <= max" }
      if !(stepFactor > 1) { return "the step factor must be above 1" }
      if !(resolution > 0) { return "the resolution must be positive" }
      if confirmations < 1 { return "at least one confirmation run" }
      if !(confirmStepDown > 0 && confirmStepDown < 1) { return "the confirmation step-down must be between 0 and 1" }
      if maxResumes < 0 { return "the resumptions cannot be negative" }
      if maxProbes < 1 { return "at least one probe" }
      return nil
    }
  }

  /// Which part of the search a measurement belongs to.
  public enum Phase: String, Sendable, Codable, Equatable {
    case stepUp = "step-up"
    case stepDown = "step-down"
    case bisect
    case confirm
    case verify
  }

  /// A rate to measure, and why.
  public struct Probe: Sendable, Codable, Equatable {
    public var rate: Double
    public var phase: Phase
    /// True when this measures again a rate that just failed.
    public var recheck: Bool

    public init(rate: Double, phase: Phase, recheck: Bool = false) {
      self.rate = rate
      self.phase = phase
      self.recheck = recheck
    }
  }

  /// A measured probe.
  public struct Observation: Sendable, Codable, Equatable {
    public var rate: Double
    public var phase: Phase
    public var recheck: Bool
    public var passed: Bool
  }

  /// What to do next.
  public enum Step: Sendable, Equatable {
    case measure(Probe)
    case done(CapacityAnswer)
  }

  public let configuration: Configuration
  public private(set) var observations: [Observation] = []
  /// The probe being measured (nil once done).
  public private(set) var pending: Probe?
  /// Rates believed passing and failing since the search (re)started.
  private var passes: [Double] = []
  private var failures: [Double] = []
  private var failedConfirmationRates: [Double] = []
  private var failedConfirmations = 0
  private var noisyRates: [Double] = []
  private var resumes = 0
  /// The confirmed rate while its failing end is verified.
  private var confirmed: Double?
  /// The highest rate confirmed before the search went on from a failing end that passed:
  /// still the answer when no confirmation of the resumed search holds.
  private var confirmedBeforeResume: Double?
  private var finished: CapacityAnswer?

  public init(configuration: Configuration) {
    precondition(configuration.problem == nil, configuration.problem ?? "")
    self.configuration = configuration
    pending = Probe(rate: configuration.startRate, phase: .stepUp)
  }

  /// The next step: the probe to measure, or the answer.
  public var next: Step {
    if let finished { return .done(finished) }
    return .measure(pending!)
  }

  /// Records whether the pending probe met the objective and returns the next step.
  @discardableResult
  public mutating func record(passed: Bool) -> Step {
    guard let probe = pending else { return next }
    observations.append(Observation(rate: probe.rate, phase: probe.phase, recheck: probe.recheck, passed: passed))
    let c = configuration
    switch probe.phase {
    case .stepUp, .stepDown, .bisect:
      if !passed && c.recheckFailures && !probe.recheck {
        pending = Probe(rate: probe.rate, phase: probe.phase, recheck: true)
        return .measure(pending!)
      }
      if passed && probe.recheck { noisyRates.append(probe.rate) }
      if passed { passes.append(probe.rate) } else { failures.append(probe.rate) }
      switch probe.phase {
      case .stepUp where passed:
        if probe.rate >= c.maxRate { return confirm(c.maxRate) }
        return measure(min(probe.rate * c.stepFactor, c.maxRate), .stepUp)
      case .stepUp, .stepDown:
        if !passes.isEmpty { return bisectOrConfirm() }
        if probe.rate <= c.minRate { return finish(rate: nil) }
        return measure(max(probe.rate / c.stepFactor, c.minRate), .stepDown)
      default:
        return bisectOrConfirm()
      }
    case .confirm:
      if passed {
        guard c.verifyFailingEnd, let failingEnd = failures.filter({ $0 > probe.rate }).min() else {
          return finish(rate: probe.rate)
        }
        confirmed = probe.rate
        pending = Probe(rate: failingEnd, phase: .verify)
        return .measure(pending!)
      }
      failedConfirmations += 1
      failedConfirmationRates.append(probe.rate)
      if failedConfirmations >= c.confirmations || probe.rate <= c.minRate { return finish(rate: nil) }
      let fraction = 1 - Double(failedConfirmationRates.count) * (1 - c.confirmStepDown)
      return confirm(fraction > 0 ? max(probe.rate * fraction, c.minRate) : c.minRate)
    case .verify:
      let answer = confirmed!
      if !passed { return finish(rate: answer, failingEndVerified: true) }
      noisyRates.append(probe.rate)
      if resumes >= c.maxResumes { return finish(rate: answer, failingEndVerified: false) }
      // The failing end passed: its failure, and those measured with it, may have been noise.
      resumes += 1
      confirmedBeforeResume = max(confirmedBeforeResume ?? answer, answer)
      passes = [probe.rate]
      failures = []
      failedConfirmationRates = []
      confirmed = nil
      if probe.rate >= c.maxRate { return confirm(c.maxRate) }
      return measure(min(probe.rate * c.stepFactor, c.maxRate), .stepUp)
    }
  }

  private mutating func bisectOrConfirm() -> Step {
    guard let pass = passes.max() else { return finish(rate: nil) }
    guard let fail = failures.filter({ $0 > pass }).min() else { return confirm(pass) }
    if (fail - pass) / pass <= configuration.resolution || observations.count >= configuration.maxProbes {
      return confirm(pass)
    }
    return measure((pass * fail).squareRoot(), .bisect)
  }

  private mutating func measure(_ rate: Double, _ phase: Phase) -> Step {
    if observations.count >= configuration.maxProbes {
      if let pass = passes.max() { return confirm(pass) }
      return finish(rate: nil)
    }
    pending = Probe(rate: rate, phase: phase)
    return .measure(pending!)
  }

  private mutating func confirm(_ rate: Double) -> Step {
    pending = Probe(rate: rate, phase: .confirm)
    return .measure(pending!)
  }

  private mutating func finish(rate confirmedNow: Double?, failingEndVerified: Bool? = nil) -> Step {
    pending = nil
    // The answer is the highest rate any confirmation run held, before a resumption or after.
    let rate = [confirmedNow, confirmedBeforeResume].compactMap { $0 }.max()
    let failing = failures + failedConfirmationRates
    let answer = CapacityAnswer(
      rate: rate, highestPassing: passes.max(), lowestFailing: failures.min(),
      lowestFailingAbove: rate.flatMap { rate in failing.filter { $0 > rate }.min() },
      reachedMaximum: rate.map { $0 >= configuration.maxRate } ?? false,
      confirmationRuns: observations.filter { $0.phase == .confirm }.count, failedConfirmations: failedConfirmations,
      failedConfirmationsAbove: rate.map { rate in failedConfirmationRates.filter { $0 > rate }.count } ?? 0,
      failingEndVerified: failingEndVerified, resumes: resumes, noisyRates: noisyRates, observations: observations)
    finished = answer
    return .done(answer)
  }

  /// Runs the whole search: `measure` measures a probe and says whether it met the objective
  /// (or returns nil to stop the search, e.g. when the run was interrupted: the answer then
  /// has no rate and says it was stopped). Returns the answer.
  public static func run(
    _ configuration: Configuration, measure: (Probe) async throws -> Bool?
  ) async rethrows -> CapacityAnswer {
    var search = CapacitySearch(configuration: configuration)
    while case .measure(let probe) = search.next {
      guard let passed = try await measure(probe) else { return search.stopped() }
      search.record(passed: passed)
    }
    guard case .done(let answer) = search.next else { preconditionFailure("the search ended without an answer") }
    return answer
  }

  /// The answer of a search stopped before its end: no rate.
  mutating func stopped() -> CapacityAnswer {
    guard case .done(var answer) = finish(rate: nil) else { preconditionFailure("finish always answers") }
    answer.stopped = true
    finished = answer
    return answer
  }
}

/// The capacity search's answer: the highest rate that met the objective in a confirmation
/// run (nil when none did), and what the measurements say about how sure that is.
public struct CapacityAnswer: Sendable, Codable, Equatable {
  /// The confirmed rate (arrivals per second); nil when no rate met the objective.
  public var rate: Double?
  /// The highest and the lowest rate the search (since it last started) believed passing and
  /// failing.
  public var highestPassing: Double?
  public var lowestFailing: Double?
  /// The lowest rate seen failing above `rate` (search or confirmation); nil when none did.
  public var lowestFailingAbove: Double?
  /// True when `rate` is the search's maximum rate: the capacity is at least this.
  public var reachedMaximum: Bool
  /// Confirmation runs made, and how many failed: in all, and above the answer since the
  /// search last went on from a failing end.
  public var confirmationRuns: Int
  public var failedConfirmations: Int
  public var failedConfirmationsAbove: Int
  /// The failing end measured again after the confirmation: true when it failed again, false
  /// when it passed (and the search could go on no more); nil when it was not measured again.
  public var failingEndVerified: Bool?
  /// How many times a failing end passed when measured again and the search went on from it.
  public var resumes: Int
  /// Rates that failed, were measured again and passed: the noise the search met.
  public var noisyRates: [Double]
  /// Every measurement, in order.
  public var observations: [CapacitySearch.Observation]
  /// True when the search was stopped before it answered (interrupted).
  public var stopped = false

  /// (lowestFailingAbove − rate) / rate: how far the bracket leaves the capacity open.
  public var bracketWidth: Double? {
    guard let rate, let above = lowestFailingAbove else { return nil }
    return (above - rate) / rate
  }

  /// One sentence on how far to trust the answer.
  public var confidence: String {
    if stopped { return "the search was stopped before it answered" }
    let lowest = formatRate(observations.last?.rate ?? 0)
    var parts: [String] = []
    if let rate {
      if reachedMaximum {
        parts.append(
          "met at the maximum rate: the capacity is at least \(formatRate(rate))/s (raise the maximum to find it)")
      } else if let above = lowestFailingAbove, let width = bracketWidth {
        parts.append(
          "between \(formatRate(rate))/s (confirmed) and \(formatRate(above))/s (failed), "
            + "a bracket of \(formatPercent(width))")
      } else {
        parts.append("\(formatRate(rate))/s confirmed; no rate above it was seen failing")
      }
      switch failingEndVerified {
      case true?: parts.append("the failing end failed again when measured after the confirmation")
      case false?:
        parts.append(
          "the failing end passed when measured again after the confirmation, and the search may go on no more "
            + "(\(resumes) resumption(s)): the capacity may be higher")
      case nil: break
      }
      if failedConfirmationsAbove > 0 {
        parts.append(
          "\(failedConfirmationsAbove) confirmation run(s) failed at rates the search had passed, so the system is "
            + "noisy near its capacity: trust the confirmed rate, not the bracket's upper end")
      } else {
        parts.append("the confirmation run agreed with the search")
      }
    } else if confirmationRuns > 0 {
      parts.append(
        "no confirmation run met the objective (\(failedConfirmations) failed, down to \(lowest)/s): "
          + "the rates that passed in the search did not hold up")
    } else {
      parts.append("no rate met the objective, down to \(lowest)/s")
    }
    if resumes > 0 {
      parts.append(
        "\(resumes) time(s) a failing end passed when measured again after a confirmation and the search went on "
          + "from it: the machine was noisy during the search")
    }
    if !noisyRates.isEmpty {
      let rates = noisyRates.map { formatRate($0) + "/s" }.joined(separator: ", ")
      parts.append("\(noisyRates.count) rate(s) failed and later passed (\(rates)): the measurements are noisy")
    }
    return parts.joined(separator: "; ")
  }
}

/// 1234.5 → "1234", 12.34 → "12.3", 1.234 → "1.23".
func formatRate(_ value: Double) -> String {
  if value >= 100 { return formatNumber(value.rounded()) }
  if value >= 10 { return formatNumber((value * 10).rounded() / 10) }
  return formatNumber((value * 100).rounded() / 100)
}

extension CapacitySearch {
  /// How long a step at `rate` measures: `base`, or long enough for `journeys` arrivals at that
  /// rate (the objective's ``ServiceLevelObjective/journeysNeeded(tail:)``), whichever is longer.
  public static func stepLength(base: Duration, rate: Double, journeys: Int) -> Duration {
    guard journeys > 0, rate > 0 else { return base }
    let needed = Duration.milliseconds(Int64((Double(journeys) / rate * 1000).rounded(.up)))
    return max(base, needed)
  }
}
