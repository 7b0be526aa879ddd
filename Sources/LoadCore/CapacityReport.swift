public import Foundation

/// One measured step of a capacity search: the rate asked for, what the run measured, how it
/// fared against the objective, and Little's law on its figures.
public struct CapacityStep: Sendable, Codable, Equatable {
  /// 1, 2, ... in the order measured.
  public var index: Int
  public var phase: CapacitySearch.Phase
  /// True when the step measures again a rate that just failed.
  public var recheck: Bool
  /// The arrival rate asked for (per second).
  public var rate: Double
  public var passed: Bool
  public var figures: RunFigures
  public var evaluation: ObjectiveEvaluation
  public var littlesLaw: LittlesLawCheck?

  public init(
    index: Int, probe: CapacitySearch.Probe, figures: RunFigures, evaluation: ObjectiveEvaluation,
    littlesLaw: LittlesLawCheck?
  ) {
    self.index = index
    phase = probe.phase
    recheck = probe.recheck
    rate = probe.rate
    passed = evaluation.met
    self.figures = figures
    self.evaluation = evaluation
    self.littlesLaw = littlesLaw
  }

  /// The progress line of the step: "step 3 (step-up) 40/s: achieved 40.1/s, p99 3.21 ms,
  /// errors 0%, dropped 0: pass".
  public var line: String {
    var line = "step \(index) (\(phase.rawValue)\(recheck ? ", again" : "")) \(formatRate(rate))/s: "
    line += "offered \(formatRate(figures.offeredRate))/s, achieved \(formatRate(figures.throughput))/s"
    for bound in evaluation.bounds {
      let statistic = bound.bound.prefix { $0 != "<" }
      line += ", \(statistic) " + (bound.measuredMilliseconds.map(formatMilliseconds) ?? "dropped")
    }
    line += ", errors \(formatPercent(evaluation.errorRate)), late \(figures.late), dropped \(figures.dropped)"
    line += passed ? ": pass" : ": FAIL (" + evaluation.reasons.joined(separator: "; ") + ")"
    return line
  }
}

/// The report of `loadgen capacity`: the objective, the settings, every step with its figures,
/// the answer and how far to trust it, and Little's law at the answer.
///
/// JSON (`"format": 1, "kind": "capacity"`): `objective` (text and bounds), `settings`,
/// `steps` (each with `rate`, `phase`, `passed`, `figures`: offered and achieved rates,
/// percentiles corrected and uncorrected, error rate, late, dropped, mean in flight;
/// `evaluation`; `littlesLaw`), `answer`, `confidence`, `littlesLaw`.
public struct CapacityReport: Sendable, Codable {
  /// How the steps ran.
  public struct Settings: Sendable, Codable, Equatable {
    public var stepSeconds: Double
    public var warmupSeconds: Double
    public var confirmSeconds: Double
    public var arrivals: String
    public var maxInFlight: Int
    public var search: CapacitySearch.Configuration
    public var littlesLawTolerance: Double
    /// The journeys every step measured at least (steps at low rates run longer than
    /// ``stepSeconds``: ``CapacitySearch/stepLength(base:rate:journeys:)``); nil or 0 for none
    /// (reports written before the rule have none).
    public var minimumJourneys: Int?
    /// The cores loadgen's engine could keep busy: 1 for the loop engine (one thread), the
    /// processors it may run on for the task engine. nil in reports written before it was kept.
    public var loadgenCores: Double?

    public init(
      stepSeconds: Double, warmupSeconds: Double, confirmSeconds: Double, arrivals: String, maxInFlight: Int,
      search: CapacitySearch.Configuration, littlesLawTolerance: Double, minimumJourneys: Int = 0,
      loadgenCores: Double? = nil
    ) {
      self.minimumJourneys = minimumJourneys
      self.loadgenCores = loadgenCores
      self.stepSeconds = stepSeconds
      self.warmupSeconds = warmupSeconds
      self.confirmSeconds = confirmSeconds
      self.arrivals = arrivals
      self.maxInFlight = maxInFlight
      self.search = search
      self.littlesLawTolerance = littlesLawTolerance
    }
  }

  /// How far to trust the answer.
  public struct Confidence: Sendable, Codable, Equatable {
    /// One bound measured twice at the answer's rate: in the search's step and in the
    /// confirmation run (ms), and their relative difference.
    public struct Agreement: Sendable, Codable, Equatable {
      public var bound: String
      public var step: Double?
      public var confirmation: Double?
      public var difference: Double?
    }

    /// The answer and the lowest rate seen failing above it.
    public var lower: Double?
    public var upper: Double?
    /// (upper − lower) / lower.
    public var bracketWidth: Double?
    public var agreement: [Agreement]
    /// The confirmation's figure of each bound over its limit (below 1: it met the bound).
    public var headroom: [String: Double]
    public var statement: String
  }

  public var format = 1
  public var tool = "loadgen"
  public var kind = "capacity"
  public var scenario: String
  public var target: String
  public var startTime: String
  public var options: [String: String]
  public var objective: String
  public var objectiveBounds: ServiceLevelObjective
  public var settings: Settings
  public var steps: [CapacityStep]
  public var answer: CapacityAnswer
  public private(set) var confidence: Confidence
  /// Little's law on the confirmation run at the answer (nil without an answer).
  public var littlesLaw: LittlesLawCheck?

  /// True when a rate met the objective (and was confirmed): the command's exit status.
  public var met: Bool { answer.rate != nil }

  public init(
    scenario: String, target: String, startTime: Date, options: [String: String] = [:],
    objective: ServiceLevelObjective, settings: Settings, steps: [CapacityStep], answer: CapacityAnswer
  ) {
    self.scenario = scenario
    self.target = target
    self.startTime = ISO8601DateFormatter().string(from: startTime)
    self.options = options
    self.objective = objective.description
    objectiveBounds = objective
    self.settings = settings
    self.steps = steps
    self.answer = answer
    let confirmation = answer.rate.flatMap { rate in
      steps.last { $0.phase == .confirm && $0.passed && $0.rate == rate }
    }
    littlesLaw = confirmation?.littlesLaw
    confidence = Self.confidence(answer: answer, steps: steps, confirmation: confirmation)
    if let warning = Self.loadgenBusy(answer: answer, steps: steps, confirmation: confirmation, cores: settings.loadgenCores) {
      confidence.statement += "; " + warning
    }
  }

  /// How busy loadgen itself was at the runs the answer rests on, as a share of the cores its
  /// engine can use: at 85% or more, a warning that the answer may be loadgen's limit rather
  /// than the system's. The runs: the confirmation at the answer and the steps at the lowest
  /// rate that failed above it (nil when neither is known, or loadgen had room to spare).
  static func loadgenBusy(answer: CapacityAnswer, steps: [CapacityStep], confirmation: CapacityStep?, cores: Double?)
    -> String?
  {
    guard let cores, cores > 0 else { return nil }
    var runs: [CapacityStep] = confirmation.map { [$0] } ?? []
    if let failing = answer.lowestFailingAbove { runs += steps.filter { $0.rate == failing && !$0.passed } }
    let busiest = runs.compactMap { step in step.figures.loadgenBusy(cores: cores).map { (step, $0) } }.max { $0.1 < $1.1 }
    guard let (step, share) = busiest, share >= RunFigures.loadgenBusyMark else { return nil }
    let where_ = step.phase == .confirm ? "the confirmation at \(formatRate(step.rate))/s" : "\(formatRate(step.rate))/s (which failed)"
    return "loadgen itself kept \(Int((share * 100).rounded()))% of its \(formatCores(cores)) busy during \(where_): "
      + "near its own limit, so the answer may be loadgen's rather than the system's (give loadgen cores of its own, "
      + "or split the load with --shard)"
  }

  private static func formatCores(_ cores: Double) -> String {
    cores == 1 ? "core" : String(format: "%g cores", cores)
  }

  static func confidence(answer: CapacityAnswer, steps: [CapacityStep], confirmation: CapacityStep?) -> Confidence {
    var agreement: [Confidence.Agreement] = []
    var headroom: [String: Double] = [:]
    var statement = answer.confidence
    if let confirmation {
      let step = steps.last { $0.phase != .confirm && $0.rate == confirmation.rate }
      for (index, bound) in confirmation.evaluation.bounds.enumerated() {
        let stepValue = step?.evaluation.bounds[index].measuredMilliseconds
        let confirmValue = bound.measuredMilliseconds
        var difference: Double?
        if let stepValue, let confirmValue, stepValue > 0 { difference = (confirmValue - stepValue) / stepValue }
        agreement.append(.init(bound: bound.bound, step: stepValue, confirmation: confirmValue, difference: difference))
        if let confirmValue { headroom[bound.bound] = confirmValue / bound.limitMilliseconds }
      }
      let figures = zip(agreement, confirmation.evaluation.bounds).compactMap { item, bound -> String? in
        guard let measured = item.confirmation else { return nil }
        let statistic = item.bound.prefix { $0 != "<" }
        var text = "\(statistic) \(formatMilliseconds(measured)) in the confirmation run "
        text += "(limit \(formatMilliseconds(bound.limitMilliseconds)))"
        if let step = item.step, let difference = item.difference {
          text += ", \(formatMilliseconds(step)) in the search's step at that rate (\(formatSignedPercent(difference)))"
        }
        return text
      }
      if !figures.isEmpty { statement += "; at the answer: " + figures.joined(separator: "; ") }
    }
    return Confidence(
      lower: answer.rate, upper: answer.lowestFailingAbove, bracketWidth: answer.bracketWidth, agreement: agreement,
      headroom: headroom, statement: statement)
  }

  /// The JSON document (keys sorted, pretty-printed).
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return try encoder.encode(self)
  }

  /// The text summary: a table of the steps, the answer, its confidence, Little's law.
  public func text() -> String {
    var out = "loadgen capacity \(scenario) -> \(target): \(objective)\n"
    out += "steps of \(formatNumber(settings.stepSeconds)) s after \(formatNumber(settings.warmupSeconds)) s of warm-up, "
    out += "confirmation \(formatNumber(settings.confirmSeconds)) s"
    if let journeys = settings.minimumJourneys, journeys > 0 {
      out += " (longer where needed: at least \(journeys) journeys a step, 3 times that to confirm)"
    }
    out += "; \(settings.arrivals) arrivals, "
    out += "at most \(settings.maxInFlight) in flight\n\n"
    let statistics = objectiveBounds.bounds.map(\.statistic)
    let header = ["step", "phase", "rate/s", "offered/s", "achieved/s"] + statistics + ["errors", "late", "dropped", "result"]
    var rows: [[String]] = []
    for step in steps {
      rows.append(
        [
          String(step.index), step.phase.rawValue + (step.recheck ? " again" : ""), formatRate(step.rate),
          formatRate(step.figures.offeredRate), formatRate(step.figures.throughput),
        ]
          + step.evaluation.bounds.map { $0.measuredMilliseconds.map(formatCell) ?? "dropped" }
          + [formatPercent(step.evaluation.errorRate), String(step.figures.late), String(step.figures.dropped),
            step.passed ? "pass" : "FAIL"])
    }
    out += renderTable(header: header, rows: rows, leftAligned: [1, header.count - 1])
    out += "rate: asked for; offered: as the arrivals were drawn; achieved: journeys completed per second\n"
    out += "latencies in ms, of the whole journey from the intended send time; dropped arrivals count against the "
    out += "objective\n\n"
    if let rate = answer.rate {
      out += "capacity: \(formatRate(rate))/s meets \(objective)\n"
    } else if answer.stopped {
      out += "capacity: not found (stopped)\n"
    } else {
      out += "capacity: no rate met \(objective)\n"
    }
    out += "confidence: \(confidence.statement)\n"
    if let littlesLaw {
      out += "Little's law: \(littlesLaw.summary)\n"
      for reason in littlesLaw.reasons { out += "  - \(reason)\n" }
    } else if answer.rate != nil {
      out += "Little's law: not checked (the confirmation run measured no journeys in flight)\n"
    }
    return out
  }
}

/// A table of right-aligned cells (left-aligned in `leftAligned` columns), two spaces apart.
func renderTable(header: [String], rows: [[String]], leftAligned: Set<Int>) -> String {
  let widths = header.indices.map { column in
    ([header[column]] + rows.map { $0[column] }).map(\.count).max()!
  }
  func format(_ row: [String]) -> String {
    row.enumerated().map { index, cell in
      leftAligned.contains(index)
        ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        : String(repeating: " ", count: widths[index] - cell.count) + cell
    }.joined(separator: "  ")
  }
  return ([format(header)] + rows.map(format)).map { line in
    var line = Substring(line)
    while line.last == " " { line.removeLast() }
    return String(line)
  }.joined(separator: "\n") + "\n"
}

/// Milliseconds in a table (the unit in the header or a footnote): 0.42, 3.07, 12.3, 257.
func formatCell(_ milliseconds: Double) -> String {
  milliseconds >= 100
    ? String(format: "%.0f", milliseconds)
    : milliseconds >= 10 ? String(format: "%.1f", milliseconds) : String(format: "%.2f", milliseconds)
}
