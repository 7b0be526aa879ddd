import Foundation
import Histogram
import Testing

@testable import LoadCore

/// `loadgen merge`: reports of several processes combine exactly through their histograms.
@Suite struct ReportMergeTests {
  static let keys = [
    OperationKey(operation: "checkout", status: "OK"), OperationKey(operation: "checkout.login", status: "OK"),
    OperationKey(operation: "checkout", status: "UNAVAILABLE"),
  ]
  static let base = Date(timeIntervalSince1970: 1_750_000_000)

  /// One process's samples: its totals, its intervals (three seconds) with their histograms,
  /// and each sample's (key, interval, corrected, uncorrected) to build the references from.
  struct Process {
    var result: LoadResult
    var samples: [(key: OperationKey, second: Int, corrected: UInt64, uncorrected: UInt64)]
  }

  static func process(seed: UInt64, count: Int) -> Process {
    var random = SplitMix64(seed: seed)
    var totals: [OperationKey: LatencyPair] = [:]
    var perSecond: [[String: (LatencyHistogram, UInt64)]] = Array(repeating: [:], count: 3)
    var samples: [(key: OperationKey, second: Int, corrected: UInt64, uncorrected: UInt64)] = []
    for i in 0..<count {
      let key = keys[Int(random.next() % UInt64(keys.count))]
      let uncorrected = 40_000 + random.next() % 30_000_000
      // A few huge ones: the stall's shadow, past the histogram's initial 10 s range.
      let corrected = uncorrected + (i % 97 == 0 ? random.next() % 40_000_000_000 : 0)
      let second = Int(random.next() % 3)
      totals[key, default: LatencyPair()].record(corrected: corrected, uncorrected: uncorrected)
      var entry = perSecond[second][key.operation] ?? (.latency(), 0)
      entry.0.recordNanoseconds(corrected)
      if !key.isOK { entry.1 += 1 }
      perSecond[second][key.operation] = entry
      samples.append((key, second, corrected, uncorrected))
    }
    let intervals = perSecond.enumerated().map { second, operations in
      IntervalStats(
        start: Double(second) + 0.0004, length: 1.0002, warmup: false, offered: 100, sent: 99, late: 3, dropped: 1,
        scheduled: 100,
        operations: operations.mapValues { histogram, errors in
          IntervalStats.Operation(
            count: histogram.totalCount, errors: errors, p50: milliseconds(histogram.valueAtPercentile(50)),
            p99: milliseconds(histogram.valueAtPercentile(99)), max: milliseconds(histogram.max),
            histogram: HistogramCoding.encodeBase64(histogram))
        })
    }
    let result = LoadResult(
      model: .open(OpenModel(rate: 100, rampTo: 200, maxInFlight: 3_333, seed: seed)), warmup: .zero,
      duration: .seconds(3), elapsedSeconds: 3.01, operations: totals, workers: [totals], intervals: intervals,
      dispatch: DispatchCounts(offered: 300, sent: 297, late: 9, dropped: 3),
      recordedOrder: ["checkout.login", "checkout"], windowCPUSeconds: 1.5, measuredSeconds: 3, interrupted: false)
    return Process(result: result, samples: samples)
  }

  /// A report as another process writes it and this one reads it: through JSON.
  static func shipped(_ process: Process, startOffset: Double, shard: LoadShard?) throws -> LoadReport {
    var report = LoadReport(
      result: process.result, scenario: "checkout", target: "10.0.0.\(Int(startOffset * 10)):7700",
      startTime: base.addingTimeInterval(startOffset), options: ["command": "run --shard \(shard?.description ?? "-")"])
    report.run.shard = shard
    return try LoadReport.decode(report.json())
  }

  /// A histogram's V2 encoding but for the header's highestTrackableValue (bytes 24..<32),
  /// which records how the histogram grew (by recording or by adding), not what it counts.
  static func encodedCounts(_ histogram: LatencyHistogram) -> [UInt8] {
    let bytes = HistogramCoding.encode(histogram)
    return Array(bytes[0..<24] + bytes[32...])
  }

  /// The intervals without their encoded histograms, and the histograms' counts apart (see
  /// ``encodedCounts(_:)``).
  static func comparable(_ intervals: [IntervalStats]) throws -> ([IntervalStats], [[String: [UInt8]]]) {
    var stripped: [IntervalStats] = []
    var counts: [[String: [UInt8]]] = []
    for var interval in intervals {
      var histograms: [String: [UInt8]] = [:]
      for (name, operation) in interval.operations {
        histograms[name] = try encodedCounts(HistogramCoding.decodeBase64(operation.histogram ?? ""))
        interval.operations[name]?.histogram = nil
      }
      stripped.append(interval)
      counts.append(histograms)
    }
    return (stripped, counts)
  }

  /// The issue's trust check: histograms merged from three processes equal one histogram of
  /// all the samples, count for count and byte for byte, per operation and status; and the time
  /// series, lined up by wall-clock second, equals one histogram of each second's samples.
  @Test func threeProcessesMergeToOneHistogramOfAllSamples() async throws {
    // Process 2 started 0.3 s after process 1 (the same wall-clock seconds), process 3 one
    // second later (its first second is the others' second).
    let offsets = [0.0, 0.3, 1.0]
    let (reports, merged, reference, referenceSeconds) = try await offThePool {
      let processes = [
        Self.process(seed: 1, count: 2_000), Self.process(seed: 2, count: 3_500), Self.process(seed: 3, count: 1_500),
      ]
      let reports = try zip(processes, offsets).enumerated().map { index, entry in
        try Self.shipped(entry.0, startOffset: entry.1, shard: LoadShard(index: index + 1, count: 3))
      }
      // One histogram of all the samples, and one of each wall-clock second's.
      var reference: [OperationKey: LatencyPair] = [:]
      var referenceSeconds: [Int: [String: LatencyHistogram]] = [:]
      for (process, offset) in zip(processes, offsets) {
        for sample in process.samples {
          reference[sample.key, default: LatencyPair()].record(
            corrected: sample.corrected, uncorrected: sample.uncorrected)
          let second = sample.second + Int(offset.rounded())
          referenceSeconds[second, default: [:]][sample.key.operation, default: .latency()].recordNanoseconds(
            sample.corrected)
        }
      }
      return (reports, try LoadReport.merge(reports), reference, referenceSeconds)
    }
    #expect(merged.warnings.isEmpty)
    let report = merged.report

    // Totals: every key's histograms, exactly.
    #expect(report.histograms.count == Self.keys.count)
    for encoded in report.histograms {
      let key = OperationKey(operation: encoded.operation, status: encoded.status)
      let expected = try #require(reference[key])
      let corrected = try HistogramCoding.decodeBase64(encoded.corrected)
      let uncorrected = try HistogramCoding.decodeBase64(encoded.uncorrected)
      #expect(corrected == expected.corrected)
      #expect(uncorrected == expected.uncorrected)
      #expect(Self.encodedCounts(corrected) == Self.encodedCounts(expected.corrected))
      #expect(Self.encodedCounts(uncorrected) == Self.encodedCounts(expected.uncorrected))
      #expect(corrected.totalCount == expected.count)
      #expect(corrected.max == expected.corrected.max)
    }
    // Summaries from the sums: counts, statuses and percentiles of all samples.
    let checkout = try #require(report.operations.first { $0.operation == "checkout" })
    var all = LatencyPair()
    for key in Self.keys where key.operation == "checkout" { all.add(reference[key]!) }
    #expect(checkout.count == all.count)
    #expect(checkout.statuses["UNAVAILABLE"] == reference[Self.keys[2]]!.count)
    #expect(checkout.corrected.p999 == Double(all.corrected.valueAtPercentile(99.9)) / 1_000)
    #expect(checkout.uncorrected.p99 == Double(all.uncorrected.valueAtPercentile(99)) / 1_000)
    #expect(report.operations.map(\.operation) == ["checkout", "checkout.login"])
    // Counts and rates summed.
    #expect(report.dispatch == DispatchCounts(offered: 900, sent: 891, late: 27, dropped: 9))
    #expect(report.run.rate == 300)
    #expect(report.run.rampTo == 600)
    #expect(report.run.maxInFlight == 9_999)
    #expect(abs(checkout.rate - reports.reduce(0) { $0 + $1.operations[0].rate }) < 1e-9)
    #expect(report.run.parts?.compactMap(\.shard) == (1...3).map { LoadShard(index: $0, count: 3) })
    #expect(report.run.startEpochSeconds == Self.base.timeIntervalSince1970)

    // Time series: four wall-clock seconds (process 3 runs one second later).
    #expect(report.intervals.count == 4)
    for (second, interval) in report.intervals.enumerated() {
      let expected = try #require(referenceSeconds[second])
      #expect(Set(interval.operations.keys) == Set(expected.keys))
      for (name, histogram) in expected {
        let operation = try #require(interval.operations[name])
        #expect(operation.count == histogram.totalCount)
        #expect(try HistogramCoding.decodeBase64(operation.histogram ?? "") == histogram)
        #expect(operation.p99 == Double(histogram.valueAtPercentile(99)) / 1_000)
        #expect(operation.max == Double(histogram.max) / 1_000)
      }
      // Second 0 holds processes 1 and 2, seconds 1 and 2 all three, second 3 process 3 alone.
      let processesInSecond = [2, 3, 3, 1][second]
      #expect(interval.offered == 100 * processesInSecond)
      #expect(interval.scheduled == 100 * Double(processesInSecond))
    }
  }

  /// A merged report written and read back is the same report; merging it with nothing else
  /// changes none of its figures.
  @Test func mergedReportRoundTripsThroughJSON() async throws {
    let (merged, json, read, readJSON, again) = try await offThePool {
      let reports = try [Self.process(seed: 4, count: 800), Self.process(seed: 5, count: 900)].map {
        try Self.shipped($0, startOffset: 0, shard: nil)
      }
      let merged = try LoadReport.merge(reports, options: ["command": "merge a.json b.json"]).report
      let json = try merged.json()
      let read = try LoadReport.decode(json)
      return (merged, json, read, try read.json(), try LoadReport.merge([read]).report)
    }
    #expect(readJSON == json)
    #expect(read.format == LoadReport.currentFormat)
    #expect(read.run.options["command"] == "merge a.json b.json")

    for (a, b) in zip(again.histograms, merged.histograms) {
      #expect(try HistogramCoding.decodeBase64(a.corrected) == HistogramCoding.decodeBase64(b.corrected))
      #expect(try HistogramCoding.decodeBase64(a.uncorrected) == HistogramCoding.decodeBase64(b.uncorrected))
    }
    #expect(again.histograms.count == merged.histograms.count)
    #expect(again.operations == merged.operations)
    let (againIntervals, againCounts) = try Self.comparable(again.intervals)
    let (mergedIntervals, mergedCounts) = try Self.comparable(merged.intervals)
    #expect(againIntervals == mergedIntervals)
    #expect(againCounts == mergedCounts)
    #expect(again.dispatch == merged.dispatch)
    // The parts carry over: the merge of a merge still knows the two runs.
    #expect(again.run.parts?.count == 2)
  }

  @Test func aMergedReportSaysWhichEnginesItsPartsRanOn() throws {
    var parts = try [Self.process(seed: 6, count: 100), Self.process(seed: 7, count: 100), Self.process(seed: 8, count: 100)]
      .map { try Self.shipped($0, startOffset: 0, shard: nil) }
    parts[0].run.engine = "loop"
    parts[1].run.engine = "loop"
    parts[2].run.engine = nil  // a report from before engines were recorded: tasks
    #expect(try LoadReport.merge(Array(parts[0...1])).report.run.engine == "loop")
    #expect(try LoadReport.merge(parts).report.run.engine == "loop, tasks")
    // And how the loop engine made its calls, when any part says.
    #expect(try LoadReport.merge(parts).report.run.callPath == nil)
    parts[0].run.callPath = "prebuilt"
    parts[1].run.callPath = "prebuilt"
    #expect(try LoadReport.merge(parts).report.run.callPath == "prebuilt")
    parts[1].run.callPath = "client"
    #expect(try LoadReport.merge(parts).report.run.callPath == "prebuilt, client")
  }

  @Test func refusesReportsOfDifferentScenariosOrModels() async throws {
    let checkout = try await offThePool {
      try Self.shipped(Self.process(seed: 6, count: 100), startOffset: 0, shard: nil)
    }
    var browse = checkout
    browse.run.scenario = "browse"
    #expect(throws: LoadReport.MergeError.differentScenarios(["checkout", "browse"])) {
      try LoadReport.merge([checkout, browse])
    }
    var closed = checkout
    closed.run.model = "closed"
    #expect(throws: LoadReport.MergeError.differentModels(["open", "closed"])) {
      try LoadReport.merge([checkout, closed])
    }
    #expect(throws: LoadReport.MergeError.nothingToMerge) { try LoadReport.merge([]) }
    var broken = checkout
    broken.histograms[0].corrected = "bm90IGEgaGlzdG9ncmFt"
    #expect(throws: LoadReport.MergeError.self) { try LoadReport.merge([checkout, broken]) }
  }

  @Test func readsOnlyLoadgenReportsOfKnownFormats() throws {
    let json = try Self.shipped(Self.process(seed: 7, count: 10), startOffset: 0, shard: nil).json()
    var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
    object["format"] = 3
    #expect(throws: LoadReport.ReadError.unsupportedFormat(3)) {
      try LoadReport.decode(JSONSerialization.data(withJSONObject: object))
    }
    object["format"] = 2
    object["tool"] = "wrk"
    #expect(throws: LoadReport.ReadError.notAReport) {
      try LoadReport.decode(JSONSerialization.data(withJSONObject: object))
    }
    #expect(throws: LoadReport.ReadError.notJSON) { try LoadReport.decode(Data("operation,count\n".utf8)) }
  }

  /// A report written before format 2 (no interval histograms, no start to the microsecond, no
  /// shard) still merges: totals exactly, the time series' percentiles as upper bounds, said so.
  @Test func mergesFormatOneReports() async throws {
    let (reports, merged, reference) = try await offThePool {
      let processes = [Self.process(seed: 8, count: 500), Self.process(seed: 9, count: 500)]
      let reports = try processes.map { process in
        let json = try Self.shipped(process, startOffset: 0, shard: nil).json()
        var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]
        object["format"] = 1
        var run = object["run"] as? [String: Any] ?? [:]
        run["startEpochSeconds"] = nil
        object["run"] = run
        let intervals = object["intervals"] as? [[String: Any]] ?? []
        object["intervals"] = intervals.map { interval in
          var interval = interval
          interval["scheduled"] = nil
          let operations = (interval["operations"] as? [String: [String: Any]]) ?? [:]
          interval["operations"] = operations.mapValues { operation in
            var operation = operation
            operation["histogram"] = nil
            return operation
          }
          return interval
        }
        return try LoadReport.decode(JSONSerialization.data(withJSONObject: object))
      }
      return (reports, try LoadReport.merge(reports), LoadRecorder.merge(processes.map(\.result.operations)))
    }
    #expect(reports.count == 2)
    #expect(reports.allSatisfy { $0.format == 1 && $0.intervals.allSatisfy { $0.scheduled == nil } })
    #expect(reports.allSatisfy { $0.run.startEpochSeconds == nil && !$0.intervals.isEmpty })
    #expect(merged.warnings.count == 1)
    #expect(merged.warnings[0].contains("format 1"))
    for encoded in merged.report.histograms {
      let key = OperationKey(operation: encoded.operation, status: encoded.status)
      #expect(try HistogramCoding.decodeBase64(encoded.corrected) == reference[key]?.corrected)
    }
    for interval in merged.report.intervals {
      for (name, operation) in interval.operations {
        let inputs = reports.compactMap { report in
          report.intervals.first { abs($0.start - interval.start) < 0.5 }?.operations[name]
        }
        #expect(operation.p99 == inputs.map(\.p99).max())
        #expect(operation.count == inputs.map(\.count).reduce(0, +))
      }
    }
  }

  @Test func warnsOfMissingRepeatedAndMixedShards() throws {
    func part(_ shard: LoadShard?) -> LoadReport.Part {
      LoadReport.Part(target: "t", startTime: "", measuredSeconds: 1, shard: shard)
    }
    let all = (1...3).map { part(LoadShard(index: $0, count: 3)) }
    #expect(LoadReport.shardWarnings(all).isEmpty)
    #expect(LoadReport.shardWarnings([part(nil), part(nil)]).isEmpty)  // plain runs of several machines
    let missing = LoadReport.shardWarnings([all[0], all[2]])
    #expect(missing == ["shard 2/3 missing: the merged report holds 2 of the 3 shards' load"])
    let repeated = LoadReport.shardWarnings(all + [all[1]])
    #expect(repeated == ["shard 2/3 appears 2 times: its load is counted more than once"])
    #expect(LoadReport.shardWarnings(all + [part(nil)]) == ["1 of the 4 reports ran without --shard"])
    let splits = LoadReport.shardWarnings([all[0], part(LoadShard(index: 2, count: 2))])
    #expect(splits == ["the shards come from different splits (of 2, 3 processes)"])
  }

  /// The engine records each interval's histogram (every status) and, in the open model, the
  /// arrivals its schedule intends: over the intervals they add up to the run's totals and to
  /// the schedule's arrivals.
  @Test func engineRecordsIntervalHistogramsAndScheduledArrivals() async throws {
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .open(OpenModel(rate: 200, rampTo: 400, spacing: .uniform)), warmup: .zero,
        duration: .milliseconds(500), workers: 2, interval: .milliseconds(100)))
    let result = await engine.run(journey: "echo") { context in
      try await context.step("call") {}
    }
    var fromIntervals = LatencyHistogram.latency()
    var scheduled = 0.0
    for interval in result.intervals {
      if let encoded = interval.operations["echo"]?.histogram {
        fromIntervals.add(try HistogramCoding.decodeBase64(encoded))
      }
      scheduled += try #require(interval.scheduled)
    }
    var totals = LatencyHistogram.latency()
    for (key, pair) in result.operations where key.operation == "echo" { totals.add(pair.corrected) }
    #expect(totals.totalCount > 0)
    #expect(fromIntervals == totals)
    // 0.5 s ramping from 200/s to 400/s: 150 arrivals intended. The intervals reach to the
    // last journey's end, after the last arrival (less than one gap, under one arrival, before
    // the window's end).
    #expect(scheduled > 149 && scheduled < 150 + 1e-9)
  }
}
