public import Foundation

/// A run's report: the versioned JSON document, the CSV table and the text summary, all from a
/// ``LoadResult`` plus what the caller says about the run (scenario, target, options).
///
/// JSON format 1: `{ "format": 1, "tool": "loadgen", "run": {...}, "dispatch": {...},
/// "operations": [OperationSummary...], "histograms": [{ "operation", "status", "corrected",
/// "uncorrected" }] (compressed V2 HdrHistograms in base64, microseconds, so reports from
/// several processes can be merged exactly), "intervals": [IntervalStats...] }`.
///
/// Format 2 only adds fields, so a reader of format 1 reads it by ignoring them:
/// `run.startEpochSeconds`, `run.shard` (`--shard i/N`), `run.parts` (a merged report's
/// inputs), and per interval `scheduled` (the open model's intended arrivals) and each
/// operation's `histogram`. ``decode(_:)`` reads both formats.
public struct LoadReport: Sendable, Codable {
  /// What was run.
  public struct Run: Sendable, Codable {
    public var scenario: String
    public var target: String
    /// "closed" or "open".
    public var model: String
    public var users: Int?
    public var thinkTimeSeconds: Double?
    public var rate: Double?
    public var rampTo: Double?
    public var arrivals: String?
    public var maxInFlight: Int?
    public var warmupSeconds: Double
    public var durationSeconds: Double
    public var elapsedSeconds: Double
    /// The measured window as it ran (shorter than durationSeconds when interrupted).
    public var measuredSeconds: Double
    public var interrupted: Bool
    /// loadgen's own CPU time in the measured window, and per journey sent in it.
    public var cpuSeconds: Double?
    public var cpuMicrosecondsPerJourney: Double?
    public var startTime: String
    public var options: [String: String]
    /// The start in seconds since 1970, to the microsecond (format 2): merging lines up the
    /// time series of several processes by it.
    public var startEpochSeconds: Double?
    /// The share of the load this process ran (`--shard i/N`; format 2).
    public var shard: LoadShard?
    /// A merged report's inputs, in the order given (format 2).
    public var parts: [Part]?
    /// Which engine ran the journeys: "tasks" or "loop" (absent in reports from before there
    /// were two; they all ran on tasks).
    public var engine: String?
    /// How the loop engine made its calls: "prebuilt" or "client" (docs/LOADGEN.md, "Call
    /// paths"); absent for the task engine and in reports from before there were two.
    public var callPath: String?
  }

  /// One input of a merged report: where and when it ran, and its shard.
  public struct Part: Sendable, Codable, Equatable {
    public var target: String
    public var startTime: String
    public var startEpochSeconds: Double?
    public var measuredSeconds: Double
    public var shard: LoadShard?
    public var command: String?
  }

  public struct EncodedHistograms: Sendable, Codable {
    public var operation: String
    public var status: String
    public var corrected: String
    public var uncorrected: String
  }

  /// The format this version writes, and those it reads.
  public static let currentFormat = 2
  public static let readableFormats = 1...2

  public var format = LoadReport.currentFormat
  public var tool = "loadgen"
  public var run: Run
  public var dispatch: DispatchCounts
  public var operations: [OperationSummary]
  public var histograms: [EncodedHistograms]
  public var intervals: [IntervalStats]

  public init(result: LoadResult, scenario: String, target: String, startTime: Date, options: [String: String] = [:]) {
    var run = Run(
      scenario: scenario, target: target, model: "closed", warmupSeconds: result.warmup.loadSeconds,
      durationSeconds: result.duration.loadSeconds, elapsedSeconds: result.elapsedSeconds,
      measuredSeconds: result.measuredSeconds, interrupted: result.interrupted,
      cpuSeconds: result.windowCPUSeconds,
      cpuMicrosecondsPerJourney: result.windowCPUSeconds.flatMap { cpu in
        result.dispatch.sent > 0 ? cpu * 1e6 / Double(result.dispatch.sent) : nil
      },
      startTime: ISO8601DateFormatter().string(from: startTime), options: options,
      startEpochSeconds: startTime.timeIntervalSince1970)
    switch result.model {
    case .closed(let users, let thinkTime):
      run.users = users
      run.thinkTimeSeconds = thinkTime?.loadSeconds
    case .open(let model):
      run.model = "open"
      run.rate = model.rate
      run.rampTo = model.rampTo
      run.arrivals = model.spacing.rawValue
      run.maxInFlight = model.maxInFlight
    }
    self.run = run
    dispatch = result.dispatch
    operations = result.summaries
    histograms = result.operations.keys.sorted().map { key in
      let pair = result.operations[key]!
      return EncodedHistograms(
        operation: key.operation, status: key.status, corrected: HistogramCoding.encodeBase64(pair.corrected),
        uncorrected: HistogramCoding.encodeBase64(pair.uncorrected))
    }
    intervals = result.intervals
  }

  /// The JSON document (keys sorted, pretty-printed).
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return try encoder.encode(self)
  }

  /// Reads a report of any readable format; throws ``ReadError`` for a document that is no
  /// loadgen report or of a format this version does not read.
  public static func decode(_ data: Data) throws -> LoadReport {
    struct Header: Decodable {
      var format: Int?
      var tool: String?
    }
    let header: Header
    do { header = try JSONDecoder().decode(Header.self, from: data) } catch { throw ReadError.notJSON }
    guard header.tool == "loadgen", let format = header.format else { throw ReadError.notAReport }
    guard readableFormats.contains(format) else { throw ReadError.unsupportedFormat(format) }
    do {
      return try JSONDecoder().decode(LoadReport.self, from: data)
    } catch {
      throw ReadError.malformed(String(describing: error))
    }
  }

  /// Why a document is not a report this version reads.
  public enum ReadError: Error, Equatable, CustomStringConvertible {
    case notJSON
    case notAReport
    case unsupportedFormat(Int)
    case malformed(String)

    public var description: String {
      switch self {
      case .notJSON: "not a JSON document"
      case .notAReport: "not a loadgen report (no \"tool\": \"loadgen\" and \"format\")"
      case .unsupportedFormat(let format):
        "report format \(format); this loadgen reads formats \(readableFormats.lowerBound) to "
          + "\(readableFormats.upperBound)"
      case .malformed(let reason): "malformed report: \(reason)"
      }
    }
  }

  /// One row per operation: counts, rate, percentiles corrected and uncorrected (ms), errors by
  /// status ("STATUS=count;..." in one column).
  public func csv() -> String {
    var lines = [
      "operation,count,rate_per_s,errors,"
        + "p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms,"
        + "uncorrected_p50_ms,uncorrected_p90_ms,uncorrected_p99_ms,uncorrected_p999_ms,uncorrected_max_ms,"
        + "uncorrected_mean_ms,statuses"
    ]
    for o in operations {
      let c = o.corrected, u = o.uncorrected
      let statuses = o.statuses.keys.sorted().map { "\($0)=\(o.statuses[$0]!)" }.joined(separator: ";")
      let numbers = [c.p50, c.p90, c.p99, c.p999, c.max, c.mean, u.p50, u.p90, u.p99, u.p999, u.max, u.mean]
        .map { String(format: "%.3f", $0) }
      lines.append(
        ([o.operation, String(o.count), String(format: "%.2f", o.rate), String(o.errors)] + numbers + [statuses])
          .joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The text summary printed at the end of a run.
  public func text() -> String {
    var out = ""
    let model: String
    if run.model == "closed" {
      model = "closed, \(run.users ?? 0) users" + (run.thinkTimeSeconds.map { String(format: ", think %.3f s", $0) } ?? "")
    } else {
      var rates = String(format: "%g/s", run.rate ?? 0)
      if let rampTo = run.rampTo { rates += String(format: " -> %g/s", rampTo) }
      model = "open, \(rates) \(run.arrivals ?? ""), at most \(run.maxInFlight ?? 0) in flight"
    }
    out += "loadgen \(run.scenario) -> \(run.target): \(model)\(run.engine.map { ", \($0) engine" } ?? "")\(run.callPath.map { " (\($0) calls)" } ?? ""); "
    out += String(format: "%.0f s measured after %.0f s warm-up\n", run.measuredSeconds, run.warmupSeconds)
    if let line = provenance { out += line + "\n" }
    if run.interrupted {
      out += String(format: "INTERRUPTED after %.1f s of the %.0f s window: journeys cut off are under CANCELLED\n", run.measuredSeconds, run.durationSeconds)
    }
    out += "offered \(dispatch.offered), sent \(dispatch.sent), late \(dispatch.late), dropped \(dispatch.dropped)"
    if let cpu = run.cpuSeconds {
      out += String(format: "; loadgen CPU %.2f s in the window", cpu)
      if let perJourney = run.cpuMicrosecondsPerJourney { out += String(format: " (%.0f µs per journey)", perJourney) }
    }
    out += "\n\n"
    let header = ["operation", "count", "rate/s", "p50", "p90", "p99", "p99.9", "max", "errors"]
    var rows: [[String]] = []
    for o in operations {
      let c = o.corrected, u = o.uncorrected
      let errors =
        o.errors == 0 ? "0" : o.statuses.filter { $0.key != OperationKey.ok }.sorted { $0.key < $1.key }
          .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
      rows.append(
        [o.operation, String(o.count), String(format: "%.1f", o.rate)] + [c.p50, c.p90, c.p99, c.p999, c.max].map(ms)
          + [errors])
      rows.append(["  uncorrected", "", ""] + [u.p50, u.p90, u.p99, u.p999, u.max].map(ms) + [""])
    }
    let widths = header.indices.map { column in
      ([header[column]] + rows.map { $0[column] }).map(\.count).max()!
    }
    func format(_ row: [String]) -> String {
      row.enumerated().map { index, cell in
        index == 0 || index == row.count - 1
          ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
          : String(repeating: " ", count: widths[index] - cell.count) + cell
      }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    out += format(header) + "\n"
    for row in rows { out += format(row) + "\n" }
    out += "latencies in ms, from the intended send time (corrected); uncorrected: from the actual send\n"
    return out
  }

  private func ms(_ value: Double) -> String {
    value >= 100 ? String(format: "%.0f", value) : value >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
  }
}
