public import Foundation

/// One concurrency of a sweep: what the closed run measured, and Little's law on it.
public struct SweepPoint: Sendable, Codable, Equatable {
  /// The users of the closed run.
  public var concurrency: Int
  /// Journeys that succeeded per second: what the fit takes as throughput.
  public var throughput: Double
  /// The journeys' latency (ms; closed model: corrected and uncorrected agree).
  public var meanMilliseconds: Double
  public var p50Milliseconds: Double
  public var p99Milliseconds: Double
  public var errors: UInt64
  public var figures: RunFigures
  public var littlesLaw: LittlesLawCheck?
  /// The fit's throughput at this concurrency (nil without a fit).
  public var fitted: Double?

  public init(concurrency: Int, figures: RunFigures, littlesLaw: LittlesLawCheck?) {
    self.concurrency = concurrency
    throughput = figures.goodput
    meanMilliseconds = figures.corrected.mean
    p50Milliseconds = figures.corrected.p50
    p99Milliseconds = figures.corrected.p99
    errors = figures.errors
    self.figures = figures
    self.littlesLaw = littlesLaw
  }

  /// The progress line: "N=8: 3106/s, mean 2.57ms, p50 2.03ms, p99 8.22ms, errors 0; Little's
  /// law holds (+0.2%)".
  public var line: String {
    var line = "N=\(concurrency): \(formatRate(throughput))/s, mean \(formatMilliseconds(meanMilliseconds))"
    line += ", p50 \(formatMilliseconds(p50Milliseconds)), p99 \(formatMilliseconds(p99Milliseconds)), errors \(errors)"
    if let littlesLaw {
      line += "; Little's law " + (littlesLaw.holds ? "holds" : "does not hold")
      line += " (\(formatSignedPercent(littlesLaw.deviation)))"
    }
    return line
  }
}

/// The report of `loadgen sweep`: a closed run per concurrency, the Universal Scalability Law
/// fitted to their throughputs, the fitted curve, and Little's law at each point.
///
/// JSON (`"format": 1, "kind": "sweep"`): `settings`, `points` (per concurrency: `throughput`,
/// `meanMilliseconds`, `p50Milliseconds`, `p99Milliseconds`, `errors`, `fitted`, `figures`,
/// `littlesLaw`), `fit` (λ, σ, κ with standard errors, R², RMSE, peak concurrency, maximum
/// throughput) or `fitError`, and `curve` (the fitted throughput at concurrencies from 1 up,
/// log-spaced, for plotting).
public struct SweepReport: Sendable, Codable {
  /// How the points ran.
  public struct Settings: Sendable, Codable, Equatable {
    public var concurrencies: [Int]
    public var durationSeconds: Double
    public var warmupSeconds: Double
    public var thinkTimeSeconds: Double?
    public var littlesLawTolerance: Double
    /// The cores loadgen's engine could keep busy (as in ``CapacityReport/Settings``); nil in
    /// reports written before it was kept.
    public var loadgenCores: Double?

    public init(
      concurrencies: [Int], durationSeconds: Double, warmupSeconds: Double, thinkTimeSeconds: Double?,
      littlesLawTolerance: Double, loadgenCores: Double? = nil
    ) {
      self.loadgenCores = loadgenCores
      self.concurrencies = concurrencies
      self.durationSeconds = durationSeconds
      self.warmupSeconds = warmupSeconds
      self.thinkTimeSeconds = thinkTimeSeconds
      self.littlesLawTolerance = littlesLawTolerance
    }
  }

  public var format = 1
  public var tool = "loadgen"
  public var kind = "sweep"
  public var scenario: String
  public var target: String
  public var startTime: String
  public var options: [String: String]
  public var settings: Settings
  public var points: [SweepPoint]
  public var fit: USLFit?
  /// Why there is no fit.
  public var fitError: String?
  public var curve: [USLFit.Point]

  /// Fits the law to `points` (their successful journeys per second).
  public init(
    scenario: String, target: String, startTime: Date, options: [String: String] = [:], settings: Settings,
    points: [SweepPoint]
  ) {
    self.scenario = scenario
    self.target = target
    self.startTime = ISO8601DateFormatter().string(from: startTime)
    self.options = options
    self.settings = settings
    var points = points
    do {
      let fit = try USLFit.fit(points.map { USLFit.Point(concurrency: Double($0.concurrency), throughput: $0.throughput) })
      self.fit = fit
      for index in points.indices { points[index].fitted = fit.throughput(at: Double(points[index].concurrency)) }
      curve = fit.curve(upTo: Self.chartTop(points: points, fit: fit))
    } catch {
      fit = nil
      fitError = "\(error)"
      curve = []
    }
    self.points = points
  }

  /// The chart's right edge: past the measurements, and past the peak when it is near.
  static func chartTop(points: [SweepPoint], fit: USLFit) -> Double {
    let measured = Double(points.map(\.concurrency).max() ?? 1)
    var top = measured * 1.5
    if let peak = fit.peakConcurrency, peak > top, peak <= measured * 4 { top = peak * 1.25 }
    return top
  }

  /// The JSON document (keys sorted, pretty-printed).
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return try encoder.encode(self)
  }

  /// The text summary: the points, the fit, a chart of the fit against the measurements, and
  /// Little's law.
  public func text() -> String {
    var out = "loadgen sweep \(scenario) -> \(target): closed model, "
    out += "\(formatNumber(settings.durationSeconds)) s per concurrency after "
    out += "\(formatNumber(settings.warmupSeconds)) s of warm-up"
    if let think = settings.thinkTimeSeconds { out += ", think \(formatMilliseconds(think * 1_000))" }
    out += "\n\n"
    let header = ["N", "throughput/s", "fitted/s", "mean", "p50", "p99", "errors", "Little"]
    let rows = points.map { point -> [String] in
      [
        String(point.concurrency), formatRate(point.throughput), point.fitted.map(formatRate) ?? "-",
        formatCell(point.meanMilliseconds), formatCell(point.p50Milliseconds), formatCell(point.p99Milliseconds),
        String(point.errors),
        point.littlesLaw.map { ($0.holds ? "holds " : "FAILS ") + formatSignedPercent($0.deviation) } ?? "-",
      ]
    }
    out += renderTable(header: header, rows: rows, leftAligned: [header.count - 1])
    out += "throughput: journeys that succeeded per second; latencies in ms, of the whole journey\n"
    if let warning = loadgenBusyWarning { out += warning + "\n" }
    out += "\n"
    guard let fit else {
      out += "USL fit: none (\(fitError ?? "no fit"))\n"
      return out + littlesLawText()
    }
    out += "USL fit: X(N) = λN / (1 + σ(N−1) + κN(N−1))\n"
    out += "  λ = \(formatRate(fit.lambda))/s\(plusMinus(fit.lambdaError, formatRate))"
    out += "   σ = \(formatCoefficient(fit.sigma))\(plusMinus(fit.sigmaError, formatCoefficient))"
    out += "   κ = \(formatCoefficient(fit.kappa))\(plusMinus(fit.kappaError, formatCoefficient))\n"
    out += "  R² = \(String(format: "%.4f", fit.rSquared)), RMSE = \(formatRate(fit.rmse))/s over \(fit.points) points"
    if fit.lambdaError == nil && fit.points <= 3 { out += " (no standard errors: they need more points than parameters)" }
    out += "\n"
    if let peak = fit.peakConcurrency, let top = fit.maxThroughput {
      out += "  peak: N* = \(formatRate(peak)), predicted maximum throughput X(N*) = \(formatRate(top))/s\n"
    } else if let top = fit.maxThroughput {
      out += "  no retrograde region: throughput approaches λ/σ = \(formatRate(top))/s\n"
    } else {
      out += "  no retrograde region and no contention measured\n"
    }
    if fit.peakConcurrency != nil { out += "  \(fit.note)\n" }
    out += "\n"
    out += chart(fit: fit)
    return out + "\n" + littlesLawText()
  }

  /// Which concurrencies loadgen itself was near its own limit at (its CPU time kept
  /// ``RunFigures/loadgenBusyMark`` or more of its engine's cores busy): there the curve may be
  /// loadgen's, not the system's. Nil when it had room to spare at every one, or it is unknown.
  public var loadgenBusyWarning: String? {
    let busy = points.compactMap { point in
      point.figures.loadgenBusy(cores: settings.loadgenCores).flatMap { $0 >= RunFigures.loadgenBusyMark ? (point, $0) : nil }
    }
    guard !busy.isEmpty else { return nil }
    let list = busy.map { "N=\($0.0.concurrency) (\(Int(($0.1 * 100).rounded()))%)" }.joined(separator: ", ")
    return "loadgen itself was near its own limit at \(list) of its cores' time: there the throughput may be "
      + "loadgen's rather than the system's (give loadgen cores of its own, or split the load with --shard)"
  }

  private func littlesLawText() -> String {
    let checks = points.compactMap { point in point.littlesLaw.map { (point.concurrency, $0) } }
    guard !checks.isEmpty else { return "Little's law: not checked (no journeys completed)\n" }
    let failing = checks.filter { !$0.1.holds }
    if failing.isEmpty {
      return "Little's law: users = throughput × (latency + think time) within "
        + "\(formatExactPercent(settings.littlesLawTolerance)) at every concurrency\n"
    }
    var out = "Little's law does not hold at \(failing.count) of \(checks.count) concurrencies:\n"
    for (concurrency, check) in failing {
      out += "  N=\(concurrency): \(check.summary)\n"
      for reason in check.reasons { out += "    - \(reason)\n" }
    }
    return out
  }

  /// The fit (·) against the measurements (●), throughput over concurrency on a log scale.
  func chart(fit: USLFit, width: Int = 64, height: Int = 16) -> String {
    guard !curve.isEmpty else { return "" }
    let top = curve.map(\.concurrency).max() ?? 1
    let highest = (curve.map(\.throughput) + points.map(\.throughput)).max() ?? 1
    guard highest > 0, top > 1 else { return "" }
    let yMax = highest * 1.05
    var grid = [[Character]](repeating: [Character](repeating: " ", count: width), count: height)
    func column(_ n: Double) -> Int { min(width - 1, max(0, Int((log(n) / log(top) * Double(width - 1)).rounded()))) }
    func row(_ x: Double) -> Int { min(height - 1, max(0, height - 1 - Int((x / yMax * Double(height - 1)).rounded()))) }
    for c in 0..<width {
      let n = exp(log(top) * Double(c) / Double(width - 1))
      grid[row(fit.throughput(at: n))][c] = "·"
    }
    if let peak = fit.peakConcurrency, peak <= top {
      for r in 0..<height where grid[r][column(peak)] == " " { grid[r][column(peak)] = ":" }
    }
    for point in points { grid[row(point.throughput)][column(Double(point.concurrency))] = "●" }
    let label = formatRate(yMax)
    let pad = String(repeating: " ", count: label.count)
    var out = ""
    for (index, line) in grid.enumerated() {
      let prefix = index == 0 ? label : index == height - 1 ? pad.dropLast() + "0" : pad
      var row = line
      while row.last == " " { row.removeLast() }
      out += prefix + " |" + String(row) + "\n"
    }
    out += pad + " +" + String(repeating: "-", count: width) + "\n"
    var axis = [Character](repeating: " ", count: width + 8)
    var ticks: [Double] = []
    var tick = 1.0
    while tick <= top {
      ticks.append(tick)
      tick *= 2
    }
    for tick in ticks {
      let text = Array(formatNumber(tick))
      let start = column(tick)
      if start + text.count <= axis.count, axis[start..<(start + text.count)].allSatisfy({ $0 == " " }),
        start == 0 || axis[start - 1] == " "
      {
        axis.replaceSubrange(start..<(start + text.count), with: text)
      }
    }
    while axis.last == " " { axis.removeLast() }
    out += pad + "  " + String(axis) + "\n"
    out += pad + "  concurrency N (log scale); ● measured, · fitted"
    if fit.peakConcurrency.map({ $0 <= top }) == true { out += ", : the peak N*" }
    return out + "\n"
  }
}

/// " ± 0.0123", or "" without an error.
private func plusMinus(_ error: Double?, _ format: (Double) -> String) -> String {
  error.map { " ± " + format($0) } ?? ""
}

/// Small coefficients with four significant digits: 0.0123, 1.23e-05.
func formatCoefficient(_ value: Double) -> String {
  if value == 0 { return "0" }
  if abs(value) >= 0.001 { return String(format: "%.4g", value) }
  return String(format: "%.3e", value)
}
