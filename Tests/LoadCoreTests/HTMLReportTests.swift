import Foundation
import Histogram
import Testing

@testable import LoadCore

/// The HTML report: one self-contained page whose charts draw any data without breaking.
@Suite struct HTMLReportTests {
  /// A run of `journey` (steps login and pay) over four seconds, one of them with failures
  /// and a stall.
  static func report(scenario: String = "checkout", journey: String = "checkout") -> LoadReport {
    var totals: [OperationKey: LatencyPair] = [:]
    var intervals: [IntervalStats] = []
    var random = SplitMix64(seed: 3)
    for second in 0..<4 {
      var operations: [String: IntervalStats.Operation] = [:]
      for operation in [journey, journey + ".login", journey + ".pay"] {
        var histogram = LatencyHistogram.latency()
        var errors: UInt64 = 0
        for i in 0..<200 {
          let latency = 500_000 + random.next() % 5_000_000 + (second == 2 && i < 5 ? 2_000_000_000 : 0)
          let status = second == 2 && i % 10 == 0 ? "UNAVAILABLE" : "OK"
          totals[OperationKey(operation: operation, status: status), default: LatencyPair()].record(
            corrected: latency, uncorrected: latency / 2)
          histogram.recordNanoseconds(latency)
          if status != "OK" { errors += 1 }
        }
        operations[operation] = IntervalStats.Operation(
          count: histogram.totalCount, errors: errors, p50: milliseconds(histogram.valueAtPercentile(50)),
          p99: milliseconds(histogram.valueAtPercentile(99)), max: milliseconds(histogram.max),
          histogram: HistogramCoding.encodeBase64(histogram))
      }
      intervals.append(
        IntervalStats(
          start: Double(second), length: 1, warmup: second == 0, offered: 200, sent: 200, late: second == 2 ? 40 : 0,
          dropped: second == 2 ? 7 : 0, scheduled: 200, operations: operations))
    }
    let result = LoadResult(
      model: .open(OpenModel(rate: 200)), warmup: .seconds(1), duration: .seconds(3), elapsedSeconds: 4,
      operations: totals, workers: [totals], intervals: intervals, dispatch: DispatchCounts(offered: 600, sent: 600),
      recordedOrder: [journey + ".login", journey + ".pay", journey], windowCPUSeconds: 0.5, measuredSeconds: 3,
      interrupted: false)
    return LoadReport(result: result, scenario: scenario, target: "127.0.0.1:7700", startTime: Date())
  }

  /// Every element opened is closed, in order (void and self-closed elements aside).
  static func tagsBalance(_ html: String) -> Bool {
    let void: Set<String> = ["meta", "br", "img", "input", "link", "hr"]
    var stack: [String] = []
    var rest = html[...]
    while let open = rest.firstIndex(of: "<") {
      guard let close = rest[open...].firstIndex(of: ">") else { return false }
      let tag = rest[rest.index(after: open)..<close]
      rest = rest[rest.index(after: close)...]
      if tag.hasPrefix("!") { continue }
      let closing = tag.hasPrefix("/")
      let name = String((closing ? tag.dropFirst() : tag).prefix { $0.isLetter || $0.isNumber }).lowercased()
      if closing {
        guard stack.popLast() == name else { return false }
      } else if !tag.hasSuffix("/") && !void.contains(name) {
        stack.append(name)
      }
    }
    return stack.isEmpty
  }

  static func count(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
  }

  /// What a self-contained page must not hold: a script, or anything it would fetch.
  static func expectSelfContained(_ html: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let withoutNamespace = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
    for forbidden in ["http://", "https://", "<script", "src=", "url(", "@import", "<link"] {
      #expect(!withoutNamespace.lowercased().contains(forbidden), "found \(forbidden)", sourceLocation: sourceLocation)
    }
    for number in ["nan", "inf"] {
      // No coordinate or label is NaN or infinite ("inf" also in no word of the page's text).
      #expect(!withoutNamespace.lowercased().contains("\"\(number)"), sourceLocation: sourceLocation)
      #expect(!withoutNamespace.lowercased().contains(">\(number)<"), sourceLocation: sourceLocation)
      #expect(!withoutNamespace.lowercased().contains(" \(number) "), sourceLocation: sourceLocation)
    }
    #expect(!withoutNamespace.contains("NaN") && !withoutNamespace.contains("Infinity"), sourceLocation: sourceLocation)
    #expect(tagsBalance(html), sourceLocation: sourceLocation)
  }

  @Test func runReportHasEveryChartAndIsSelfContained() async throws {
    let html = try await offThePool { HTMLReport.render(report: Self.report()) }
    Self.expectSelfContained(html)
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    #expect(Self.count("<svg", in: html) == Self.count("</svg>", in: html))
    for title in [
      "Latency over time: checkout", "p99 over time by step: checkout", "Offered against achieved rate",
      "Latency against throughput: checkout", "Percentile spectrum: checkout",
    ] {
      #expect(html.contains(">\(title)</text>"), "chart \(title)")
    }
    #expect(Self.count("<svg", in: html) == 5)
    // The summary table, with errors by status; errors marked on the latency chart.
    #expect(html.contains("UNAVAILABLE 20"))
    #expect(html.contains("failed journeys in the interval"))
    #expect(html.contains("errors: 20 at 2.5"))  // the red bar of second 2 (drawn at its middle)
    // The stall of 2 s reaches the charts: a logarithmic latency axis.
    #expect(html.contains("latency (ms), log scale"))
    #expect(html.contains("dropped: 7 at 2.5"))
  }

  /// Two runs (a demo's checkout run and its flash sale) on one page: each with its facts and
  /// every chart, ids kept unique.
  @Test func severalRunsShareOnePage() async throws {
    let html = try await offThePool {
      HTMLReport.render(
        reports: [Self.report(), Self.report(scenario: "hot-product", journey: "hot-product")], title: "demo runs")
    }
    Self.expectSelfContained(html)
    #expect(html.contains("demo runs"))
    #expect(html.contains("Run 1: checkout") && html.contains("Run 2: hot-product"))
    #expect(Self.count("<svg", in: html) == 10)
    #expect(html.contains(">Percentile spectrum: hot-product</text>"))
    let ids = html.split(separator: "id=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
    #expect(Set(ids).count == ids.count, "duplicate ids")
  }

  @Test func textFromTheReportIsEscaped() async throws {
    let html = try await offThePool {
      HTMLReport.render(report: Self.report(scenario: "<script>alert('x')</script>", journey: "a&b<i>"))
    }
    Self.expectSelfContained(html)
    #expect(!html.contains("<script>"))
    #expect(!html.contains("<i>"))
    #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
    #expect(html.contains("Latency over time: a&amp;b&lt;i&gt;"))
  }

  @Test func emptyReportRenders() {
    let result = LoadResult(
      model: .closed(users: 1, thinkTime: nil), warmup: .zero, duration: .seconds(1), elapsedSeconds: 0,
      operations: [:], workers: [], intervals: [], dispatch: DispatchCounts(), windowCPUSeconds: nil,
      measuredSeconds: 0, interrupted: true)
    let report = LoadReport(result: result, scenario: "echo", target: "127.0.0.1:1", startTime: Date())
    let html = HTMLReport.render(report: report)
    Self.expectSelfContained(html)
    #expect(html.contains("Offered against achieved rate"))
    #expect(html.contains("no data"))
  }

  @Test func chartsDrawEmptyOnePointZeroAndHugeData() {
    let cases: [(String, [ChartSeries], ChartAxis.Scale)] = [
      ("no series", [], .linear),
      ("empty series", [ChartSeries("p99", points: [])], .logarithmic),
      ("one point", [ChartSeries("p99", points: [(x: 3, y: 7)], style: .lineAndPoints)], .linear),
      ("one point, log", [ChartSeries("p99", points: [(x: 3, y: 7)], style: .points)], .logarithmic),
      ("zeros", [ChartSeries("p50", points: [(x: 0, y: 0), (x: 0, y: 0)], style: .bars)], .linear),
      ("zeros, log", [ChartSeries("p50", points: [(x: 1, y: 0), (x: 2, y: 0), (x: 3, y: 1)])], .logarithmic),
      (
        "huge outlier",
        [ChartSeries("max", points: [(x: 0, y: 0.01), (x: 1, y: 1e12), (x: 2, y: 0.02)], style: .lineAndPoints)],
        .logarithmic
      ),
      ("huge linear", [ChartSeries("max", points: [(x: -1e300, y: -1e300), (x: 1e300, y: 1e300)])], .linear),
      (
        "not finite",
        [
          ChartSeries(
            "gaps", points: [(x: 0, y: 1), (x: 1, y: .nan), (x: 2, y: .infinity), (x: .nan, y: 3), (x: 4, y: 2)]),
          ChartSeries("bars", points: [(x: 1, y: -.infinity), (x: 2, y: 5)], style: .bars, onSecondaryAxis: true),
        ], .linear
      ),
    ]
    for (name, series, scale) in cases {
      let chart = SVGChart(
        title: "case \(name)", x: ChartAxis("x"), y: ChartAxis("y", scale: scale), secondaryY: ChartAxis("errors"),
        series: series, bands: [ChartBand(from: 0, to: .infinity, label: "warm-up")],
        rules: [ChartRule(y: .nan, label: "objective")])
      let svg = chart.svg()
      Self.expectSelfContained(svg)
      #expect(svg.contains(">case \(name)</text>"))
      let hasData = series.contains { $0.points.contains { $0.x.isFinite && $0.y.isFinite } }
      #expect(svg.contains(">no data<") == !hasData, "\(name)")
    }
  }

  @Test func percentileAxisLabelsTheTail() {
    #expect(ChartAxis.percentileOfInverseTail(1) == "0%")
    #expect(ChartAxis.percentileOfInverseTail(10) == "90%")
    #expect(ChartAxis.percentileOfInverseTail(1_000) == "99.9%")
    #expect(ChartAxis.percentileOfInverseTail(100_000) == "99.999%")
    #expect(ChartAxis.compactNumber(1_500_000) == "1.5M")
    #expect(ChartAxis.compactNumber(25_000) == "25k")
    #expect(ChartAxis.compactNumber(0.25) == "0.25")
    #expect(ChartAxis.compactNumber(0) == "0")
    // The spectrum of one sample is one point; of many, it climbs to the maximum.
    var one = LatencyHistogram.latency()
    one.recordNanoseconds(0)
    #expect(RunView.spectrumPoints(one).count == 1)
    #expect(RunView.spectrumPoints(.latency()).isEmpty)
    var many = LatencyHistogram.latency()
    for i in 1...10_000 { many.recordNanoseconds(UInt64(i) * 1_000) }
    let points = RunView.spectrumPoints(many)
    #expect(points.last?.y == Double(many.max) / 1_000)
    #expect(zip(points, points.dropFirst()).allSatisfy { $0.x < $1.x && $0.y <= $1.y })
  }

  @Test func capacityAndUSLSectionsRender() async throws {
    let capacity = HTMLReport.capacitySteps(
      steps: [(x: 100, y: 12), (x: 200, y: 19), (x: 400, y: 480), (x: 300, y: 61)], passed: [true, true, false, true],
      objective: 100)
    let usl = HTMLReport.uslFit(
      measured: [(x: 1, y: 950), (x: 2, y: 1_800), (x: 4, y: 3_100), (x: 8, y: 4_200)],
      fitted: stride(from: 1.0, through: 8, by: 0.5).map { n in
        (x: n, y: 1_000 * n / (1 + 0.05 * (n - 1) + 0.01 * n * (n - 1)))
      },
      linear: [(x: 1, y: 1_000), (x: 8, y: 8_000)],
      parameters: [("σ (contention)", "0.05"), ("κ (coherency)", "0.01")])
    let empty = HTMLReport.capacitySteps(steps: [], passed: [], objective: nil, title: "Empty search")
    let html = try await offThePool {
      HTMLReport.render(report: Self.report(), extraSections: [capacity, usl, empty])
    }
    Self.expectSelfContained(html)
    #expect(html.contains(">Capacity search: offered rate against p99</text>"))
    #expect(html.contains(">Universal Scalability Law fit: throughput against concurrency</text>"))
    #expect(html.contains("objective: p99 ≤ 100 ms"))
    #expect(html.contains("<td>fail</td>") && html.contains("<td>pass</td>"))
    #expect(html.contains("σ (contention)"))
    #expect(html.contains("id=\"capacity\"") && html.contains("href=\"#usl\""))
    // Failed steps are crosses, numbered in the order they ran.
    #expect(html.contains("failed: 480 at 400"))
    #expect(html.contains(">3</text>"))

    // A page of sections alone, as `loadgen capacity` or `sweep` may write.
    let page = HTMLReport.render(title: "loadgen sweep <checkout>", facts: [("Target", "a&b")], sections: [usl])
    Self.expectSelfContained(page)
    #expect(page.contains("<title>loadgen sweep &lt;checkout&gt;</title>"))
  }
}
