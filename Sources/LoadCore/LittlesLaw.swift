/// Little's law as a cross-check of a run's own figures: the concurrency equals the throughput
/// times the time each journey spends in the system.
///
/// - Closed model: users = throughput × (mean latency + think time). When fewer journeys ran
///   than that predicts, the users spent time neither in a journey nor thinking: loadgen
///   itself (its CPU, the machine's scheduling) held them back.
/// - Open model: mean journeys in flight (time-weighted, measured by the engine from each
///   send to its completion) = offered rate × mean corrected latency. Dropped arrivals (offered,
///   never in flight) and late sends (corrected latency counts the wait before the send; being
///   in flight does not) make the right side larger; the check then says how much of the
///   difference they explain (sent rate × latency from the actual send).
///
/// Both sides are measured independently (in-flight time is summed per journey; rates and
/// latencies come from the counts and the histograms), so a check that fails means the
/// figures do not describe one steady state: the window was short against the latency, or
/// the load was not what it was meant to be.
public struct LittlesLawCheck: Sendable, Codable, Equatable {
  /// "closed" or "open".
  public var model: String
  /// The concurrency the run had: the users (closed), or the mean journeys in flight (open).
  public var concurrency: Double
  /// Throughput × (latency + think time), the concurrency the other figures predict.
  public var predicted: Double
  /// The rate used (closed: journeys completed per second; open: arrivals offered per second).
  public var rate: Double
  /// The mean latency used (seconds, corrected) and the think time.
  public var latencySeconds: Double
  public var thinkTimeSeconds: Double
  /// (predicted − concurrency) / concurrency.
  public var deviation: Double
  public var tolerance: Double
  public var holds: Bool
  /// Why it does not hold (empty when it does), most likely first.
  public var reasons: [String]

  /// One line: "8 users ≈ 3106/s × (2.57 ms + 0 ms) = 7.98 (holds, -0.2%)".
  public var summary: String {
    let left = model == "closed" ? "\(formatNumber(concurrency)) users" : "\(formatRate(concurrency)) in flight"
    var right = "\(formatRate(rate))/s × "
    right += thinkTimeSeconds > 0
      ? "(\(formatMilliseconds(latencySeconds * 1_000)) + \(formatMilliseconds(thinkTimeSeconds * 1_000)))"
      : formatMilliseconds(latencySeconds * 1_000)
    let verdict = holds ? "holds" : "does not hold"
    return "\(left) vs \(right) = \(formatRate(predicted)): \(verdict) "
      + "(\(formatSignedPercent(deviation)), tolerance \(formatExactPercent(tolerance)))"
  }

  /// Checks a run's figures. Nil when the run cannot be checked (nothing completed; an open
  /// run without the in-flight measurement).
  public static func check(_ figures: RunFigures, tolerance: Double = 0.1) -> LittlesLawCheck? {
    guard figures.journeys > 0, figures.seconds > 0 else { return nil }
    let latency = figures.corrected.mean / 1_000
    if figures.model == "closed" {
      guard let users = figures.users, users > 0 else { return nil }
      let think = figures.thinkTimeSeconds ?? 0
      let predicted = figures.throughput * (latency + think)
      let concurrency = Double(users)
      let deviation = (predicted - concurrency) / concurrency
      var check = LittlesLawCheck(
        model: "closed", concurrency: concurrency, predicted: predicted, rate: figures.throughput,
        latencySeconds: latency, thinkTimeSeconds: think, deviation: deviation, tolerance: tolerance,
        holds: abs(deviation) <= tolerance, reasons: [])
      if !check.holds { check.reasons = closedReasons(figures, check: check) }
      return check
    }
    guard let inFlight = figures.meanInFlight, inFlight > 0 else { return nil }
    let predicted = figures.offeredRate * latency
    let deviation = (predicted - inFlight) / inFlight
    var check = LittlesLawCheck(
      model: "open", concurrency: inFlight, predicted: predicted, rate: figures.offeredRate, latencySeconds: latency,
      thinkTimeSeconds: 0, deviation: deviation, tolerance: tolerance, holds: abs(deviation) <= tolerance, reasons: [])
    if !check.holds { check.reasons = openReasons(figures, check: check) }
    return check
  }

  static func closedReasons(_ figures: RunFigures, check: LittlesLawCheck) -> [String] {
    var reasons: [String] = []
    if check.deviation < 0 {
      reasons.append(
        "the users spent \(formatPercent(-check.deviation)) of their time neither in a journey nor thinking: "
          + "loadgen itself (its CPU, the machine's scheduling) held them back")
    }
    if let edge = edgeReason(figures, cycle: check.latencySeconds + check.thinkTimeSeconds) { reasons.append(edge) }
    if reasons.isEmpty {
      reasons.append("more journeys completed than the users could run in the window: loadgen's counts are inconsistent")
    }
    return reasons
  }

  static func openReasons(_ figures: RunFigures, check: LittlesLawCheck) -> [String] {
    var reasons: [String] = []
    if figures.dropped > 0 {
      reasons.append(
        "\(figures.dropped) of \(figures.offered) arrivals were dropped at the in-flight cap: offered, never in flight")
    }
    let wait = figures.corrected.mean - figures.uncorrected.mean
    if wait > 0.02 * figures.corrected.mean && (figures.late > 0 || wait > 1) {
      reasons.append(
        "sends ran a mean \(formatMilliseconds(wait)) behind schedule (\(figures.late) late): the corrected latency "
          + "counts that wait, being in flight does not")
    }
    if !reasons.isEmpty {
      let sentRate = Double(figures.sent) / figures.seconds
      let explained = sentRate * figures.uncorrected.mean / 1_000
      let rest = (explained - check.concurrency) / check.concurrency
      if abs(rest) <= check.tolerance {
        reasons.append(
          "accounting for them, sent rate × latency from the send = \(formatRate(explained)) "
            + "(\(formatSignedPercent(rest))): the check holds for what was sent")
      }
    }
    if let edge = edgeReason(figures, cycle: check.latencySeconds) { reasons.append(edge) }
    if reasons.isEmpty {
      reasons.append(
        "no drops, late sends or long journeys explain it: the load varied within the window (a stall, a ramp), "
          + "which a mean over the window hides")
    }
    return reasons
  }

  /// Journeys long against the window: those straddling its edges skew the counts.
  static func edgeReason(_ figures: RunFigures, cycle: Double) -> String? {
    guard cycle > 0.05 * figures.seconds else { return nil }
    return "a journey takes \(formatPercent(cycle / figures.seconds)) of the \(formatNumber(figures.seconds)) s window: "
      + "journeys straddling its edges skew the counts; measure longer"
  }
}

/// 0.012 → "+1.2%".
func formatSignedPercent(_ fraction: Double) -> String {
  (fraction >= 0 ? "+" : "") + formatPercent(fraction)
}
