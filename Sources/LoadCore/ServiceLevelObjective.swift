public import Histogram

/// A latency and error objective, such as `p99<50ms,p999<200ms` with at most 0.1% errors,
/// evaluated on a run's journeys (their corrected latency: from the intended send time).
///
/// The rule for arrivals the run could not offer: a **dropped** arrival (never sent, at the
/// open model's in-flight cap) counts as a journey slower than every bound and as an error.
/// The percentiles are taken over every arrival of the measured window, completed or dropped,
/// so a run that dropped more than 1% of its arrivals cannot meet `p99<...` whatever the
/// latency of the rest; failed journeys keep their measured latency and count as errors.
/// A run that measured nothing meets no objective.
public struct ServiceLevelObjective: Sendable, Codable, Equatable, CustomStringConvertible {
  /// One latency bound: the `percentile` (0 < p ≤ 100; 100 is the maximum) of the journeys'
  /// corrected latency below `limitMilliseconds` (or at most, when `inclusive`).
  public struct LatencyBound: Sendable, Codable, Equatable, CustomStringConvertible {
    public var percentile: Double
    public var limitMilliseconds: Double
    public var inclusive: Bool

    public init(percentile: Double, limitMilliseconds: Double, inclusive: Bool = false) {
      self.percentile = percentile
      self.limitMilliseconds = limitMilliseconds
      self.inclusive = inclusive
    }

    /// "p99", "p99.9", "max".
    public var statistic: String {
      if percentile == 100 { return "max" }
      return "p" + formatNumber(percentile)
    }

    public var description: String {
      statistic + (inclusive ? "<=" : "<") + formatMilliseconds(limitMilliseconds)
    }

    /// Whether `milliseconds` (nil: beyond every completed journey) meets the bound.
    public func isMet(by milliseconds: Double?) -> Bool {
      guard let milliseconds else { return false }
      return inclusive ? milliseconds <= limitMilliseconds : milliseconds < limitMilliseconds
    }
  }

  public var bounds: [LatencyBound]
  /// The highest acceptable share of failed or dropped arrivals (0.001 is 0.1%).
  public var maxErrorRate: Double

  public init(bounds: [LatencyBound], maxErrorRate: Double) {
    self.bounds = bounds
    self.maxErrorRate = maxErrorRate
  }

  /// How many journeys a measurement needs for its highest percentile to rest on `tail` journeys
  /// at or beyond it (5 beyond p99 is 500 journeys; p99.9 needs 5,000); 0 when the objective
  /// bounds only the maximum. A p99 read from 35 journeys is their slowest one or two: two
  /// measurements of the same system disagree by far more than any bound's margin.
  public func journeysNeeded(tail: Int = 5) -> Int {
    guard let top = bounds.map(\.percentile).filter({ $0 < 100 }).max() else { return 0 }
    // Less a hair: 100 - 99.9 is not exactly 0.1 in binary.
    return Int((Double(tail) * 100 / (100 - top) - 1e-6).rounded(.up))
  }

  /// Parses `latency` (comma-separated bounds: `p50<10ms`, `p99<50ms`, `p99.9<=200ms`,
  /// `p999<200ms` (99.9), `max<1s`; units us, µs, ms, s) and `errorRate` (`0.1%` or a fraction
  /// such as `0.001`).
  public static func parse(latency: String, errorRate: String) throws -> ServiceLevelObjective {
    let terms = latency.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
    guard !terms.isEmpty else { throw ObjectiveSyntaxError("the objective names no bound: give e.g. p99<50ms") }
    return ServiceLevelObjective(bounds: try terms.map(parseBound), maxErrorRate: try parseRate(errorRate))
  }

  /// "p99<50ms": the statistic, the comparison and a duration with its unit.
  static func parseBound(_ term: String) throws -> LatencyBound {
    guard let operatorIndex = term.firstIndex(of: "<") else {
      throw ObjectiveSyntaxError("\(term): a bound is STATISTIC<DURATION, e.g. p99<50ms")
    }
    let statistic = term[..<operatorIndex].lowercased()
    var rest = term[term.index(after: operatorIndex)...]
    let inclusive = rest.hasPrefix("=")
    if inclusive { rest = rest.dropFirst() }
    let percentile: Double
    if statistic == "max" {
      percentile = 100
    } else if statistic.hasPrefix("p"), let parsed = parsePercentile(statistic.dropFirst()) {
      percentile = parsed
    } else {
      throw ObjectiveSyntaxError("\(term): the statistic is pNN (p50, p99, p99.9 or p999) or max")
    }
    guard let limit = parseMilliseconds(String(rest)) else {
      throw ObjectiveSyntaxError("\(term): the bound is a duration with its unit (us, ms, s), e.g. 50ms")
    }
    return LatencyBound(percentile: percentile, limitMilliseconds: limit, inclusive: inclusive)
  }

  /// "99" → 99, "99.9" → 99.9, "5" → 5; the shorthand of nines: "999" → 99.9, "9999" → 99.99,
  /// "995" → 99.5.
  static func parsePercentile(_ text: Substring) -> Double? {
    guard !text.isEmpty else { return nil }
    let value: Double?
    if text.contains(".") || text.count <= 2 {
      value = Double(text)
    } else {
      guard text.hasPrefix("99"), text.allSatisfy(\.isNumber) else { return nil }
      value = Double(text.prefix(2) + "." + text.dropFirst(2))
    }
    guard let value, value > 0, value <= 100 else { return nil }
    return value
  }

  static func parseMilliseconds(_ text: String) -> Double? {
    let units: [(String, Double)] = [("us", 1e-3), ("µs", 1e-3), ("ms", 1), ("s", 1_000)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
      if let value = Double(text.dropLast(suffix.count)), value > 0, value.isFinite { return value * scale }
      return nil
    }
    return nil
  }

  /// "0.1%" → 0.001; "0.001" → 0.001; "0" → 0.
  public static func parseRate(_ text: String) throws -> Double {
    let trimmed = text.trimmingWhitespace()
    let value = trimmed.hasSuffix("%") ? Double(trimmed.dropLast()).map { $0 / 100 } : Double(trimmed)
    guard let value, value >= 0, value <= 1 else {
      throw ObjectiveSyntaxError("\(text): an error rate is a percentage (0.1%) or a fraction (0.001) of at most 1")
    }
    return value
  }

  public var description: String {
    bounds.map(\.description).joined(separator: ",") + ", errors <= " + formatExactPercent(maxErrorRate)
  }

  /// Evaluates the objective on a run: the journeys' corrected latency (every status), how
  /// many of them failed, and how many arrivals were dropped.
  public func evaluate(journeys: LatencyHistogram, errors: UInt64, dropped: Int) -> ObjectiveEvaluation {
    let completed = journeys.totalCount
    let arrivals = completed + UInt64(max(0, dropped))
    var reasons: [String] = []
    guard arrivals > 0 else {
      let unmeasured = bounds.map { bound in
        ObjectiveEvaluation.Bound(
          bound: bound.description, measuredMilliseconds: nil, limitMilliseconds: bound.limitMilliseconds, met: false)
      }
      return ObjectiveEvaluation(
        bounds: unmeasured, errorRate: 0, maxErrorRate: maxErrorRate, met: false, reasons: ["no journey was measured"])
    }
    let results = bounds.map { bound -> ObjectiveEvaluation.Bound in
      let measured = Self.percentile(bound.percentile, of: journeys, dropped: dropped)
      let met = bound.isMet(by: measured)
      if !met {
        if let measured {
          let limit = formatMilliseconds(bound.limitMilliseconds)
          reasons.append("\(bound.statistic) \(formatMilliseconds(measured)) over \(limit)")
        } else {
          reasons.append("\(bound.statistic) not met: \(dropped) of \(arrivals) arrivals dropped")
        }
      }
      return .init(
        bound: bound.description, measuredMilliseconds: measured, limitMilliseconds: bound.limitMilliseconds, met: met)
    }
    let failed = errors + UInt64(max(0, dropped))
    let errorRate = Double(failed) / Double(arrivals)
    let errorRateMet = errorRate <= maxErrorRate
    if !errorRateMet {
      var detail = "\(errors) failed"
      if dropped > 0 { detail += ", \(dropped) dropped" }
      reasons.append("errors \(formatPercent(errorRate)) over \(formatExactPercent(maxErrorRate)) (\(detail) of \(arrivals))")
    }
    return ObjectiveEvaluation(
      bounds: results, errorRate: errorRate, maxErrorRate: maxErrorRate,
      met: errorRateMet && results.allSatisfy(\.met), reasons: reasons)
  }

  /// The `percentile` of the arrivals' latencies (ms) when `dropped` arrivals count as slower
  /// than every completed journey; nil when the percentile falls among the dropped ones.
  public static func percentile(_ percentile: Double, of journeys: LatencyHistogram, dropped: Int) -> Double? {
    let completed = Double(journeys.totalCount)
    guard completed > 0 else { return nil }
    // The k-th smallest of n completed + d dropped arrivals, k = ceil(p/100 (n + d)), is the
    // k-th smallest completed one when k <= n: the completed journeys' percentile p (n + d) / n.
    let arrivals = completed + Double(max(0, dropped))
    let rank = (percentile / 100 * arrivals).rounded(.up)
    if rank > completed { return nil }
    if percentile >= 100 { return milliseconds(journeys.max) }
    let shifted = min(100, percentile * arrivals / completed)
    return milliseconds(journeys.valueAtPercentile(shifted))
  }
}

/// How a run fared against a ``ServiceLevelObjective``.
public struct ObjectiveEvaluation: Sendable, Codable, Equatable {
  /// One bound's outcome: the measured figure in milliseconds (nil when dropped arrivals
  /// reach that percentile: slower than every bound).
  public struct Bound: Sendable, Codable, Equatable {
    public var bound: String
    public var measuredMilliseconds: Double?
    public var limitMilliseconds: Double
    public var met: Bool
  }

  public var bounds: [Bound]
  /// Failed journeys plus dropped arrivals, over completed journeys plus dropped arrivals.
  public var errorRate: Double
  public var maxErrorRate: Double
  public var met: Bool
  /// Why the objective was not met (empty when it was).
  public var reasons: [String]
}

/// A malformed objective on the command line.
public struct ObjectiveSyntaxError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

extension StringProtocol {
  func trimmingWhitespace() -> String {
    String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
  }
}

/// 99 → "99", 99.9 → "99.9" (no trailing zeros).
func formatNumber(_ value: Double) -> String {
  if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
  var text = String(value)
  if text.contains("e") { return text }
  while text.hasSuffix("0") { text.removeLast() }
  return text
}

/// 50 → "50ms", 0.25 → "250us", 1500 → "1.5s".
func formatMilliseconds(_ value: Double) -> String {
  if value >= 1_000 { return formatNumber((value / 1_000 * 1_000).rounded() / 1_000) + "s" }
  if value < 1 { return formatNumber((value * 1_000 * 10).rounded() / 10) + "us" }
  return formatNumber((value * 100).rounded() / 100) + "ms"
}

/// A measured share: 0.1234 → "12.3%", 0.00123 → "0.12%".
func formatPercent(_ fraction: Double) -> String {
  let percent = fraction * 100
  let scale = abs(percent) >= 1 ? 10.0 : 100.0
  return formatNumber((percent * scale).rounded() / scale) + "%"
}

/// A share as given: 0.001 → "0.1%", 0.00001 → "0.001%".
func formatExactPercent(_ fraction: Double) -> String {
  formatNumber((fraction * 100 * 1e9).rounded() / 1e9) + "%"
}
