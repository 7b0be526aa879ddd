import Foundation
import Histogram

/// One run's report as the HTML report's charts read it: the journeys, the time series in
/// order, the totals' histograms decoded.
struct RunView {
  let report: LoadReport
  /// The journeys (operations without a "."), in the report's order.
  let journeys: [String]
  let intervals: [IntervalStats]
  /// The intervals long enough to give a rate: the tail after the window (collected when the
  /// last journey ended) may last a few milliseconds, and its handful of completions would
  /// read as a spike.
  let rateIntervals: [IntervalStats]

  init(_ report: LoadReport) {
    self.report = report
    let names = report.operations.map(\.operation)
    let journeys = names.filter { !$0.contains(".") }
    self.journeys = journeys.isEmpty ? Array(names.prefix(1)) : journeys
    intervals = report.intervals.sorted { $0.start < $1.start }
    let lengths = intervals.map(\.length).sorted()
    let typical = lengths.isEmpty ? 0 : lengths[lengths.count / 2]
    rateIntervals = intervals.filter { $0.length > 0 && $0.length >= typical / 2 }
  }

  static let red = "#d62728"
  static let warmupColor = "#bbbbbb"

  var warmupBand: [ChartBand] {
    report.run.warmupSeconds > 0 ? [ChartBand(from: 0, to: report.run.warmupSeconds, label: "warm-up")] : []
  }

  /// Where an interval is drawn on a time axis: its middle.
  static func time(_ interval: IntervalStats) -> Double { interval.start + interval.length / 2 }

  /// Logarithmic when the values span more than two decades (a stall beside sub-millisecond
  /// calls), else linear from zero.
  static func latencyAxis(_ values: [Double], label: String = "latency (ms)") -> ChartAxis {
    let positive = values.filter { $0.isFinite && $0 > 0 }
    guard let low = positive.min(), let high = positive.max(), high / low > 100 else { return ChartAxis(label) }
    return ChartAxis(label + ", log scale", scale: .logarithmic)
  }

  func latencyOverTime(_ journey: String) -> SVGChart {
    func series(_ value: (IntervalStats.Operation) -> Double) -> [(x: Double, y: Double)] {
      intervals.map { interval in
        let operation = interval.operations[journey]
        return (Self.time(interval), operation.map { $0.count > 0 ? value($0) : .nan } ?? .nan)
      }
    }
    let p50 = series(\.p50), p99 = series(\.p99), maximum = series(\.max)
    let errors = intervals.compactMap { interval -> (x: Double, y: Double)? in
      guard let operation = interval.operations[journey], operation.errors > 0 else { return nil }
      return (Self.time(interval), Double(operation.errors))
    }
    let totalErrors = report.operations.first { $0.operation == journey }.map { summary in
      summary.statuses.filter { $0.key != OperationKey.ok }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
    } ?? []
    var series = [
      ChartSeries("p50", points: p50, color: "#1f77b4"), ChartSeries("p99", points: p99, color: "#ff7f0e"),
      ChartSeries("max", points: maximum, color: "#9467bd", dashed: true),
    ]
    if !errors.isEmpty {
      series.append(ChartSeries("errors", points: errors, style: .bars, color: Self.red, onSecondaryAxis: true))
    }
    return SVGChart(
      title: "Latency over time: \(journey)", x: ChartAxis("seconds since the start"),
      y: Self.latencyAxis((p50 + p99 + maximum).map(\.y)),
      secondaryY: errors.isEmpty ? nil : ChartAxis("failed journeys in the interval"), series: series,
      bands: warmupBand,
      caption: "Corrected latency of the journeys completed in each interval (one a second), warm-up included. "
        + "Red bars: journeys that failed in the interval"
        + (totalErrors.isEmpty
          ? " (none in the measured window)." : "; in the measured window: \(totalErrors.joined(separator: ", ")).")
    )
  }

  /// Each step's p99 over time, or nil for a journey of fewer than two steps (one step's line
  /// would repeat the journey's).
  func stepsOverTime(_ journey: String) -> SVGChart? {
    let steps = report.operations.map(\.operation).filter { $0.hasPrefix(journey + ".") }
    guard steps.count > 1 else { return nil }
    let series = steps.map { step in
      ChartSeries(
        String(step.dropFirst(journey.count + 1)),
        points: intervals.map { interval in
          let operation = interval.operations[step]
          return (Self.time(interval), operation.map { $0.count > 0 ? $0.p99 : .nan } ?? .nan)
        })
    }
    return SVGChart(
      title: "p99 over time by step: \(journey)", x: ChartAxis("seconds since the start"),
      y: Self.latencyAxis(series.flatMap { $0.points.map(\.y) }, label: "p99 (ms)"), series: series, bands: warmupBand,
      caption: "Corrected p99 of each step's calls completed in each interval.")
  }

  func rates() -> SVGChart {
    func perSecond(_ value: (IntervalStats) -> Double?) -> [(x: Double, y: Double)] {
      rateIntervals.compactMap { interval in value(interval).map { (Self.time(interval), $0 / interval.length) } }
    }
    var series: [ChartSeries] = []
    if report.run.model == "open" {
      let scheduled = perSecond { interval in
        interval.scheduled ?? scheduleRate(at: interval.start + interval.length / 2).map { $0 * interval.length }
      }
      series.append(ChartSeries("scheduled (offered)", points: scheduled, color: "#7f7f7f", dashed: true))
      series.append(ChartSeries("arrivals dispatched", points: perSecond { Double($0.offered) }, color: "#1f77b4"))
    } else {
      series.append(ChartSeries("journeys started", points: perSecond { Double($0.sent) }, color: "#1f77b4"))
    }
    let achieved = perSecond { interval in
      Double(journeys.reduce(UInt64(0)) { $0 + (interval.operations[$1]?.count ?? 0) })
    }
    series.append(ChartSeries("achieved (completions)", points: achieved, color: "#2ca02c"))
    let late = perSecond { $0.late > 0 ? Double($0.late) : nil }
    let dropped = perSecond { $0.dropped > 0 ? Double($0.dropped) : nil }
    series.append(ChartSeries("late sends", points: late, style: .bars, color: "#ff7f0e"))
    series.append(ChartSeries("dropped", points: dropped, style: .bars, color: Self.red))
    let d = report.dispatch
    return SVGChart(
      title: "Offered against achieved rate", x: ChartAxis("seconds since the start"),
      y: ChartAxis("journeys per second"), series: series, bands: warmupBand,
      caption: (report.run.model == "open"
        ? "Scheduled: the arrival schedule's rate; dispatched: arrivals the dispatcher reached in the interval. "
        : "Closed model: journeys start when the previous one of the same user ends. ")
        + "Achieved: journeys completed. Bars: sends more than --late-after behind schedule, and arrivals dropped at "
        + "--max-in-flight. Measured window: offered \(d.offered), sent \(d.sent), late \(d.late), "
        + "dropped \(d.dropped).")
  }

  /// The open model's rate at `seconds` from the start, from the run's settings (format-1
  /// reports carry no scheduled arrivals per interval).
  func scheduleRate(at seconds: Double) -> Double? {
    let run = report.run
    guard run.model == "open", let rate = run.rate else { return nil }
    guard seconds <= run.warmupSeconds + run.durationSeconds else { return 0 }
    guard let rampTo = run.rampTo, seconds > run.warmupSeconds, run.durationSeconds > 0 else { return rate }
    return rate + (rampTo - rate) * min(1, (seconds - run.warmupSeconds) / run.durationSeconds)
  }

  func latencyAgainstThroughput(_ journey: String) -> SVGChart {
    func points(warmup: Bool, _ value: (IntervalStats.Operation) -> Double) -> [(x: Double, y: Double)] {
      rateIntervals.compactMap { interval in
        guard interval.warmup == warmup, let operation = interval.operations[journey], operation.count > 0 else {
          return nil
        }
        return (Double(operation.count) / interval.length, value(operation))
      }
    }
    let p99 = points(warmup: false, \.p99), p50 = points(warmup: false, \.p50)
    let warm = points(warmup: true, \.p99)
    return SVGChart(
      title: "Latency against throughput: \(journey)", x: ChartAxis("\(journey) completed per second"),
      y: Self.latencyAxis((p99 + p50 + warm).map(\.y)),
      series: [
        ChartSeries("p99", points: p99, style: .points, color: "#ff7f0e"),
        ChartSeries("p50", points: p50, style: .points, marker: .square, color: "#1f77b4"),
        ChartSeries("p99 in the warm-up", points: warm, style: .points, marker: .cross, color: Self.warmupColor),
      ],
      caption: "One point per interval (one a second): the journeys completed in it, and their corrected latency.")
  }

  func spectrum(_ journey: String) -> ReportSection.Content {
    var pair = LatencyPair()
    do {
      for encoded in report.histograms where encoded.operation == journey {
        pair.add(
          LatencyPair(
            corrected: try HistogramCoding.decodeBase64(encoded.corrected),
            uncorrected: try HistogramCoding.decodeBase64(encoded.uncorrected)))
      }
    } catch {
      return .paragraph("The histograms of \(journey) do not decode: no spectrum.")
    }
    let corrected = Self.spectrumPoints(pair.corrected), uncorrected = Self.spectrumPoints(pair.uncorrected)
    return .chart(
      SVGChart(
        title: "Percentile spectrum: \(journey)",
        x: ChartAxis("percentile", scale: .logarithmic, tickLabel: ChartAxis.percentileOfInverseTail),
        y: Self.latencyAxis((corrected + uncorrected).map(\.y)),
        series: [
          ChartSeries("corrected", points: corrected, color: "#d62728"),
          ChartSeries("uncorrected", points: uncorrected, color: "#1f77b4", dashed: true),
        ],
        caption: "Latency at each percentile of the measured window's \(pair.count) journeys, every status; "
          + "the x axis is 1/(1 − percentile), as HdrHistogram plots it, so the tail gets the room. "
          + "Where the lines part, the corrected one shows the waits behind stalls that the uncorrected one hides."))
  }

  /// Points (1/(1 − p), latency in ms) at percentiles that halve the distance to 100% in 5
  /// steps each (HdrHistogram's percentile iteration, one pass), up to the last one the count
  /// resolves, then the maximum.
  static func spectrumPoints(_ histogram: LatencyHistogram) -> [(x: Double, y: Double)] {
    let count = Double(histogram.totalCount)
    guard count > 0 else { return [] }
    var points: [(x: Double, y: Double)] = []
    for step in histogram.percentiles(ticksPerHalfDistance: 5) {
      let x = 1 / (1 - step.percentileLevelIteratedTo / 100)
      guard x.isFinite, x < count else { break }
      if let last = points.last, x <= last.x { continue }
      points.append((x, Double(step.value) / 1_000))
    }
    points.append((max(count, points.last.map { $0.x * 1.01 } ?? 1), Double(histogram.max) / 1_000))
    return points
  }
}
