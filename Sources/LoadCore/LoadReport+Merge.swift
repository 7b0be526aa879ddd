import Foundation
import Histogram

extension LoadReport {
  /// A merged report and what the merge found worth saying (missing or duplicated shards,
  /// inputs too old for an exact time series).
  public struct Merged: Sendable {
    public var report: LoadReport
    public var warnings: [String]
  }

  /// Why reports cannot be merged.
  public enum MergeError: Error, Equatable, CustomStringConvertible {
    case nothingToMerge
    case differentScenarios([String])
    case differentModels([String])
    case unreadableHistogram(operation: String, status: String, report: Int)

    public var description: String {
      switch self {
      case .nothingToMerge: "no reports to merge"
      case .differentScenarios(let names):
        "the reports ran different scenarios (\(names.joined(separator: ", "))); merge only runs of one scenario"
      case .differentModels(let models):
        "the reports ran different load models (\(models.joined(separator: ", "))); merge only runs of one model"
      case .unreadableHistogram(let operation, let status, let report):
        "report \(report + 1): the histogram of \(operation) [\(status)] does not decode"
      }
    }
  }

  /// Merges reports of one scenario run by several processes or machines (or of the shards of
  /// one run), exactly through their histograms.
  ///
  /// - Totals: each operation and status's corrected and uncorrected histograms are added
  ///   (element-wise sums of one layout), and the summaries computed from the sums; an
  ///   operation's rate is the sum of the inputs' rates (what the processes offered together).
  /// - Dispatch counts, users, rates and CPU time are summed.
  /// - The time series is merged by wall-clock second: each report's intervals are shifted by
  ///   its start's distance from the earliest start (whole seconds), and the intervals that
  ///   fall on one second are added: counts summed, percentiles from the sum of their
  ///   histograms. Format-1 inputs carry no interval histograms: there the merged p50 and p99
  ///   are the inputs' highest (an upper bound), and a warning says so.
  /// - Shards: when the inputs ran with `--shard`, each of 1...N should come exactly once; a
  ///   missing or repeated shard, or inputs of different splits, gives a warning.
  ///
  /// Merged reports merge again (their parts are carried along). `options` become the merged
  /// report's `run.options`.
  public static func merge(_ reports: [LoadReport], options: [String: String] = [:]) throws -> Merged {
    guard let first = reports.first else { throw MergeError.nothingToMerge }
    let scenarios = unique(reports.map(\.run.scenario))
    guard scenarios.count == 1 else { throw MergeError.differentScenarios(scenarios) }
    let models = unique(reports.map(\.run.model))
    guard models.count == 1 else { throw MergeError.differentModels(models) }
    var warnings: [String] = []

    // Totals, exactly through the histograms.
    var totals: [OperationKey: LatencyPair] = [:]
    for (index, report) in reports.enumerated() {
      for encoded in report.histograms {
        let key = OperationKey(operation: encoded.operation, status: encoded.status)
        do {
          let pair = LatencyPair(
            corrected: try HistogramCoding.decodeBase64(encoded.corrected),
            uncorrected: try HistogramCoding.decodeBase64(encoded.uncorrected))
          totals[key, default: LatencyPair()].add(pair)
        } catch {
          throw MergeError.unreadableHistogram(operation: encoded.operation, status: encoded.status, report: index)
        }
      }
    }

    let epochs = reports.map(\.startEpoch)
    let base = epochs.min() ?? 0
    var run = first.run
    run.target = unique(reports.map(\.run.target)).joined(separator: ", ")
    run.users = sum(reports.map(\.run.users))
    run.rate = sum(reports.map(\.run.rate))
    run.rampTo = sum(reports.map(\.run.rampTo))
    run.maxInFlight = sum(reports.map(\.run.maxInFlight))
    run.warmupSeconds = reports.map(\.run.warmupSeconds).max() ?? 0
    run.durationSeconds = reports.map(\.run.durationSeconds).max() ?? 0
    run.measuredSeconds = reports.map(\.run.measuredSeconds).max() ?? 0
    run.elapsedSeconds = zip(reports, epochs).map { $1 - base + $0.run.elapsedSeconds }.max() ?? 0
    run.interrupted = reports.contains { $0.run.interrupted }
    // One engine when every part ran on it; "tasks, loop" when they differed.
    run.engine = unique(reports.map { $0.run.engine ?? "tasks" }).joined(separator: ", ")
    let callPaths = unique(reports.compactMap(\.run.callPath))
    run.callPath = callPaths.isEmpty ? nil : callPaths.joined(separator: ", ")
    run.startEpochSeconds = base
    run.startTime = reports[epochs.firstIndex(of: base) ?? 0].run.startTime
    run.options = options
    run.shard = nil
    run.parts = reports.flatMap(\.asParts)

    var dispatch = DispatchCounts()
    for report in reports {
      dispatch.offered += report.dispatch.offered
      dispatch.sent += report.dispatch.sent
      dispatch.late += report.dispatch.late
      dispatch.dropped += report.dispatch.dropped
    }
    run.cpuSeconds = sum(reports.map(\.run.cpuSeconds))
    run.cpuMicrosecondsPerJourney = run.cpuSeconds.flatMap { cpu in
      dispatch.sent > 0 ? cpu * 1e6 / Double(dispatch.sent) : nil
    }

    // Summaries in the inputs' order of operations (journeys, each followed by its steps).
    var names: [String] = []
    for report in reports {
      for operation in report.operations.map(\.operation) where !names.contains(operation) { names.append(operation) }
    }
    for key in totals.keys.sorted() where !names.contains(key.operation) { names.append(key.operation) }
    let operations = names.map { name in
      var all = LatencyPair()
      var statuses: [String: UInt64] = [:]
      for (key, pair) in totals where key.operation == name {
        all.add(pair)
        statuses[key.status, default: 0] += pair.count
      }
      var summary = OperationSummary(operation: name, latency: all, statuses: statuses, seconds: run.measuredSeconds)
      summary.rate = reports.reduce(0) { sum, report in
        sum + (report.operations.first { $0.operation == name }?.rate ?? 0)
      }
      return summary
    }

    let (intervals, exact) = mergeIntervals(reports, epochs: epochs, base: base)
    if !exact {
      warnings.append(
        "some reports are format 1 (no interval histograms): the merged time series' p50 and p99 are the "
          + "highest of the inputs', not exact; the totals are exact")
    }
    warnings += shardWarnings(run.parts ?? [])

    var merged = first
    merged.format = LoadReport.currentFormat
    merged.run = run
    merged.dispatch = dispatch
    merged.operations = operations
    merged.histograms = totals.keys.sorted().map { key in
      let pair = totals[key]!
      return EncodedHistograms(
        operation: key.operation, status: key.status, corrected: HistogramCoding.encodeBase64(pair.corrected),
        uncorrected: HistogramCoding.encodeBase64(pair.uncorrected))
    }
    merged.intervals = intervals
    return Merged(report: merged, warnings: warnings)
  }

  /// One line on where a report's load came from: its shard, or a merged report's parts.
  var provenance: String? {
    if let shard = run.shard { return "shard \(shard) of a load split across \(shard.count) processes" }
    guard let parts = run.parts else { return nil }
    let shards = parts.compactMap(\.shard).map(\.description)
    return "merged from \(parts.count) reports" + (shards.isEmpty ? "" : " (shards \(shards.joined(separator: ", ")))")
  }

  /// The run's start in seconds since 1970: `startEpochSeconds`, else (format 1) the ISO 8601
  /// `startTime`, to the second.
  var startEpoch: Double {
    run.startEpochSeconds ?? ISO8601DateFormatter().date(from: run.startTime)?.timeIntervalSince1970 ?? 0
  }

  /// What this report contributes to a merged report's parts: its own parts, or itself.
  var asParts: [Part] {
    run.parts
      ?? [
        Part(
          target: run.target, startTime: run.startTime, startEpochSeconds: run.startEpochSeconds,
          measuredSeconds: run.measuredSeconds, shard: run.shard, command: run.options["command"])
      ]
  }

  private static func mergeIntervals(_ reports: [LoadReport], epochs: [Double], base: Double) -> ([IntervalStats], Bool)
  {
    struct Slot {
      var start = Double.infinity
      var lengths: [Int: Double] = [:]
      var stats = IntervalStats(
        start: 0, length: 0, warmup: false, offered: 0, sent: 0, late: 0, dropped: 0, scheduled: nil, operations: [:])
      var histograms: [String: LatencyHistogram] = [:]
      var inexact: Set<String> = []
    }
    var slots: [Int: Slot] = [:]
    var exact = true
    for (index, report) in reports.enumerated() {
      let shift = epochs[index] - base
      for interval in report.intervals {
        let second = Int(shift.rounded()) + Int((interval.start + interval.length / 2).rounded(.down))
        var slot = slots[second] ?? Slot()
        slot.start = min(slot.start, shift + interval.start)
        slot.lengths[index, default: 0] += interval.length
        slot.stats.warmup = slot.stats.warmup || interval.warmup
        slot.stats.offered += interval.offered
        slot.stats.sent += interval.sent
        slot.stats.late += interval.late
        slot.stats.dropped += interval.dropped
        if let scheduled = interval.scheduled { slot.stats.scheduled = (slot.stats.scheduled ?? 0) + scheduled }
        for (name, operation) in interval.operations {
          var merged =
            slot.stats.operations[name] ?? IntervalStats.Operation(count: 0, errors: 0, p50: 0, p99: 0, max: 0)
          merged.count += operation.count
          merged.errors += operation.errors
          merged.max = max(merged.max, operation.max)
          merged.p50 = max(merged.p50, operation.p50)
          merged.p99 = max(merged.p99, operation.p99)
          if let text = operation.histogram, let histogram = try? HistogramCoding.decodeBase64(text) {
            slot.histograms[name, default: .latency()].add(histogram)
          } else {
            slot.inexact.insert(name)
            exact = false
          }
          slot.stats.operations[name] = merged
        }
        slots[second] = slot
      }
    }
    let intervals = slots.keys.sorted().map { second in
      let slot = slots[second]!
      var stats = slot.stats
      stats.start = slot.start
      stats.length = slot.lengths.values.max() ?? 0
      for (name, histogram) in slot.histograms where !slot.inexact.contains(name) {
        stats.operations[name]?.p50 = milliseconds(histogram.valueAtPercentile(50))
        stats.operations[name]?.p99 = milliseconds(histogram.valueAtPercentile(99))
        stats.operations[name]?.max = milliseconds(histogram.max)
        stats.operations[name]?.histogram = HistogramCoding.encodeBase64(histogram)
      }
      return stats
    }
    return (intervals, exact)
  }

  /// Warnings about the shards of the parts: each of 1...N should come once.
  static func shardWarnings(_ parts: [Part]) -> [String] {
    let shards = parts.compactMap(\.shard)
    guard !shards.isEmpty else { return [] }
    var warnings: [String] = []
    let unsharded = parts.count - shards.count
    if unsharded > 0 { warnings.append("\(unsharded) of the \(parts.count) reports ran without --shard") }
    let splits = unique(shards.map(\.count).sorted().map(String.init))
    guard splits.count == 1, let count = shards.first?.count else {
      warnings.append("the shards come from different splits (of \(splits.joined(separator: ", ")) processes)")
      return warnings
    }
    var seen: [Int: Int] = [:]
    for shard in shards { seen[shard.index, default: 0] += 1 }
    let missing = (1...count).filter { seen[$0] == nil }
    let repeated = seen.keys.sorted().filter { seen[$0]! > 1 }
    if !missing.isEmpty {
      let names = missing.map { "\($0)/\(count)" }.joined(separator: ", ")
      let held = count - missing.count
      warnings.append("shard \(names) missing: the merged report holds \(held) of the \(count) shards' load")
    }
    for index in repeated {
      warnings.append("shard \(index)/\(count) appears \(seen[index]!) times: its load is counted more than once")
    }
    return warnings
  }

  private static func unique(_ values: [String]) -> [String] {
    var seen: Set<String> = []
    return values.filter { seen.insert($0).inserted }
  }

  /// The sum of the values, or nil when any is nil (a sum of some would mislead).
  private static func sum<T: AdditiveArithmetic>(_ values: [T?]) -> T? {
    values.reduce(T.zero as T?) { total, value in total.flatMap { t in value.map { t + $0 } } }
  }
}
