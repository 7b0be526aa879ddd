import Foundation

extension HTMLReport {
  /// A capacity search's steps: each step's offered rate (x, journeys per second) against its
  /// p99 (y, ms), passing steps as green circles and failing ones as red crosses, numbered in
  /// the order they ran, with the objective as a dashed line; and the steps as a table.
  /// `passed[i]` says whether `steps[i]` met the objective (a missing entry counts as failed).
  public static func capacitySteps(
    steps: [(x: Double, y: Double)], passed: [Bool], objective: Double? = nil, title: String = "Capacity search"
  ) -> ReportSection {
    let numbered = steps.enumerated().map { index, point in
      (index: index, point: point, passed: passed.indices.contains(index) && passed[index])
    }
    let good = numbered.filter(\.passed), bad = numbered.filter { !$0.passed }
    let chart = SVGChart(
      title: "\(title): offered rate against p99", x: ChartAxis("offered rate (journeys per second)"),
      y: RunView.latencyAxis(steps.map(\.y) + (objective.map { [$0] } ?? []), label: "p99 (ms)"),
      series: [
        ChartSeries("search order", points: steps, color: "#cccccc"),
        ChartSeries(
          "passed", points: good.map(\.point), style: .points, color: "#2ca02c",
          labels: good.map { "\($0.index + 1)" }),
        ChartSeries(
          "failed", points: bad.map(\.point), style: .points, marker: .cross, color: RunView.red,
          labels: bad.map { "\($0.index + 1)" }),
      ],
      rules: objective.map { [ChartRule(y: $0, label: "objective: p99 ≤ \(milliseconds($0)) ms")] } ?? [],
      caption: "Each point is one step of the search, numbered in the order it ran.")
    let table = ReportTable(
      header: ["step", "offered rate/s", "p99 (ms)", "result"],
      rows: numbered.map { step in
        [
          "\(step.index + 1)", String(format: "%.1f", step.point.x), milliseconds(step.point.y),
          step.passed ? "pass" : "fail",
        ]
      }, numericColumns: [0, 1, 2])
    return ReportSection(id: "capacity", title: title, content: [.chart(chart), .table(table)])
  }

  /// A Universal Scalability Law fit: measured throughput (y) at each concurrency (x) as
  /// points, the fitted curve as a line, optionally linear scaling from the first point as a
  /// dashed line; and the fit's parameters as a table.
  public static func uslFit(
    measured: [(x: Double, y: Double)], fitted: [(x: Double, y: Double)], linear: [(x: Double, y: Double)] = [],
    parameters: [(name: String, value: String)] = [], title: String = "Universal Scalability Law fit"
  ) -> ReportSection {
    var series = [
      ChartSeries("measured", points: measured, style: .points, color: "#1f77b4"),
      ChartSeries("USL fit", points: fitted, color: "#ff7f0e"),
    ]
    if !linear.isEmpty { series.append(ChartSeries("linear scaling", points: linear, color: "#7f7f7f", dashed: true)) }
    let chart = SVGChart(
      title: "\(title): throughput against concurrency", x: ChartAxis("concurrency (users)"),
      y: ChartAxis("throughput (journeys per second)"), series: series,
      caption: "Measured: one run per concurrency. Fit: X(N) = λN / (1 + σ(N − 1) + κN(N − 1)).")
    var content: [ReportSection.Content] = [.chart(chart)]
    if !parameters.isEmpty {
      content.append(.table(ReportTable(header: ["parameter", "value"], rows: parameters.map { [$0.name, $0.value] })))
    }
    return ReportSection(id: "usl", title: title, content: content)
  }
}
