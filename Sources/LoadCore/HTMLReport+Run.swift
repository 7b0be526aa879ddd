import Foundation

extension HTMLReport {
  /// The page title of a run's report.
  static func title(of report: LoadReport) -> String {
    "loadgen: \(report.run.scenario) against \(report.run.target)"
  }

  /// What was run, as (label, value) rows.
  static func facts(of report: LoadReport) -> [(String, String)] {
    let run = report.run
    var facts: [(String, String)] = [("Scenario", run.scenario), ("Target", run.target)]
    if run.model == "closed" {
      let think = run.thinkTimeSeconds.map { ", think time \(seconds($0))" } ?? ""
      facts.append(("Load model", "closed, \(run.users ?? 0) users" + think))
    } else {
      var model = "open, " + rate(run.rate ?? 0)
      if let rampTo = run.rampTo { model += " ramping to " + rate(rampTo) }
      model += ", \(run.arrivals ?? "") arrivals, at most \(run.maxInFlight ?? 0) in flight"
      facts.append(("Load model", model))
    }
    facts.append(("Started", run.startTime))
    var window = "\(seconds(run.measuredSeconds)) measured after \(seconds(run.warmupSeconds)) of warm-up"
    if run.interrupted { window += " (INTERRUPTED: journeys cut off are under CANCELLED)" }
    facts.append(("Window", window))
    let d = report.dispatch
    facts.append(("Journeys", "offered \(d.offered), sent \(d.sent), late \(d.late), dropped \(d.dropped)"))
    if let cpu = run.cpuSeconds {
      facts.append(
        ("loadgen CPU", String(format: "%.2f s in the window", cpu)
          + (run.cpuMicrosecondsPerJourney.map { String(format: " (%.0f µs per journey)", $0) } ?? "")))
    }
    if let provenance = report.provenance { facts.append(("Processes", provenance)) }
    if let command = run.options["command"] { facts.append(("Command", command)) }
    return facts
  }

  /// A run's sections: summary, latency over time, offered against achieved rate, latency
  /// against throughput, percentile spectrum.
  public static func sections(for report: LoadReport) -> [ReportSection] {
    let view = RunView(report)
    return [
      summarySection(report),
      ReportSection(
        id: "latency-over-time", title: "Latency over time",
        content: view.journeys.flatMap { journey in
          [.chart(view.latencyOverTime(journey))] + (view.stepsOverTime(journey).map { [.chart($0)] } ?? [])
        }),
      ReportSection(id: "rates", title: "Offered against achieved rate", content: [.chart(view.rates())]),
      ReportSection(
        id: "latency-throughput", title: "Latency against throughput",
        content: view.journeys.map { .chart(view.latencyAgainstThroughput($0)) }),
      ReportSection(
        id: "spectrum", title: "Percentile spectrum", content: view.journeys.map { view.spectrum($0) }),
    ]
  }

  static func summarySection(_ report: LoadReport) -> ReportSection {
    var rows: [[String]] = []
    var secondary: Set<Int> = []
    for o in report.operations {
      let c = o.corrected, u = o.uncorrected
      let errors =
        o.errors == 0
        ? "0"
        : o.statuses.filter { $0.key != OperationKey.ok }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
          .joined(separator: ", ")
      rows.append(
        [o.operation, String(o.count), String(format: "%.1f", o.rate)]
          + [c.p50, c.p90, c.p99, c.p999, c.max].map(milliseconds) + [errors])
      secondary.insert(rows.count)
      rows.append(["uncorrected", "", ""] + [u.p50, u.p90, u.p99, u.p999, u.max].map(milliseconds) + [""])
    }
    let table = ReportTable(
      header: ["operation", "count", "rate/s", "p50", "p90", "p99", "p99.9", "max", "errors"], rows: rows,
      numericColumns: Set(1...7), secondaryRows: secondary)
    return ReportSection(
      id: "summary", title: "Summary",
      content: [
        .table(table),
        .paragraph(
          "Latencies in ms, from the intended send time (corrected for coordinated omission); "
            + "uncorrected: from the actual send. Rates are per second of the measured window."),
      ])
  }

  /// Milliseconds as the text summary shows them (3 significant digits or whole numbers).
  static func milliseconds(_ value: Double) -> String {
    String(format: value >= 100 ? "%.0f" : value >= 10 ? "%.1f" : "%.2f", value)
  }

  static func seconds(_ value: Double) -> String {
    value == value.rounded() ? String(format: "%.0f s", value) : String(format: "%.1f s", value)
  }

  static func rate(_ value: Double) -> String {
    String(format: "%g/s", value)
  }
}
