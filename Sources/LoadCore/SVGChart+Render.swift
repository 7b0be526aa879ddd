extension SVGChart {
  /// The colours of series that name none: distinguishable, and readable on white.
  public static let palette = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#d62728",
  ]

  /// The chart as an `<svg>` element (with the SVG namespace, so it also stands alone in a
  /// file). Every text is escaped; every coordinate is finite.
  public func svg() -> String {
    let frame = Frame(self)
    var out = SVGWriter()
    out.open(
      "svg",
      [
        ("xmlns", "http://www.w3.org/2000/svg"), ("viewBox", "0 0 \(coord(width)) \(coord(frame.height))"),
        ("width", coord(width)), ("height", coord(frame.height)), ("class", "chart"), ("role", "img"),
        ("font-family", "system-ui, sans-serif"),
      ])
    out.element("title", text: title)
    out.rect(0, 0, width: width, height: frame.height, fill: "#ffffff")
    out.text(title, x: frame.left, y: 20, size: 15, fill: "#222", [("font-weight", "600")])
    for band in bands where band.from.isFinite && band.to.isFinite {
      let a = frame.px(min(band.from, band.to)), b = frame.px(max(band.from, band.to))
      guard b > a else { continue }
      out.rect(a, frame.top, width: b - a, height: plotHeight, fill: band.color)
      out.text(band.label, x: a + 4, y: frame.top + 13, size: 11, fill: "#555")
    }
    drawAxes(frame, into: &out)
    drawSeries(frame, into: &out)
    for rule in rules where rule.y.isFinite {
      let y0 = frame.py(rule.y, frame.yScale)
      out.line(
        frame.left, y0, frame.right, y0, stroke: rule.color, [("stroke-dasharray", "4 3"), ("stroke-width", "1.5")])
      out.text(rule.label, x: frame.left + 4, y: y0 - 4, size: 11, fill: rule.color)
    }
    if !frame.hasData {
      out.text("no data", x: (frame.left + frame.right) / 2, y: frame.middle, size: 14, fill: "#888", anchor: "middle")
    }
    drawLegend(frame, into: &out)
    out.close("svg")
    return out.text
  }

  /// Where everything goes: the scales, the plot's edges in pixels, the legend's rows.
  struct Frame {
    let series: [(series: ChartSeries, color: String)]
    let xScale: ChartScale
    let yScale: ChartScale
    let y2Scale: ChartScale?
    let hasData: Bool
    let legend: [(series: ChartSeries, color: String, x: Double, row: Int)]
    let left: Double
    let right: Double
    let top: Double
    let bottom: Double
    let height: Double

    init(_ chart: SVGChart) {
      let series = chart.series.enumerated().map { index, series in
        (series: series, color: series.color ?? SVGChart.palette[index % SVGChart.palette.count])
      }
      self.series = series
      func values(secondary: Bool) -> [Double] {
        series.filter { $0.series.onSecondaryAxis == secondary }.flatMap { $0.series.points.map(\.y) }
      }
      xScale = ChartScale(
        axis: chart.x, values: series.flatMap { $0.series.points.filter { $0.y.isFinite }.map(\.x) }, horizontal: true)
      yScale = ChartScale(axis: chart.y, values: values(secondary: false) + chart.rules.map(\.y))
      y2Scale = chart.secondaryY.map { ChartScale(axis: $0, values: values(secondary: true)) }
      hasData = series.contains { entry in entry.series.points.contains { $0.x.isFinite && $0.y.isFinite } }

      // Margins wide enough for the tick labels (and the rotated axis label beside them).
      let widest = { (scale: ChartScale?, axis: ChartAxis?) -> Double in
        guard let scale, let axis else { return 0 }
        return scale.ticks.map { textWidth(axis.tickLabel($0), size: 11) }.max() ?? 0
      }
      left = max(64, 30 + widest(yScale, chart.y))
      right = chart.width - (chart.secondaryY == nil ? 24 : max(56, 30 + widest(y2Scale, chart.secondaryY)))
      // Legend items left to right, a new row where the next would pass the plot's right edge.
      var legend: [(series: ChartSeries, color: String, x: Double, row: Int)] = []
      var x = left, row = 0
      for (series, color) in series where !series.name.isEmpty {
        let itemWidth = 24 + textWidth(series.name, size: 12) + 18
        if x > left && x + itemWidth > right {
          row += 1
          x = left
        }
        legend.append((series, color, x, row))
        x += itemWidth
      }
      self.legend = legend
      top = 34 + Double(legend.isEmpty ? 0 : row + 1) * 18 + 8
      bottom = top + chart.plotHeight
      height = bottom + 48
    }

    var middle: Double { (top + bottom) / 2 }

    func px(_ value: Double) -> Double { left + xScale.fraction(value) * (right - left) }

    func py(_ value: Double, _ scale: ChartScale) -> Double { bottom - scale.fraction(value) * (bottom - top) }
  }

  private func drawAxes(_ frame: Frame, into out: inout SVGWriter) {
    // Vertical grid lines and x tick labels (a label that would overlap the last is left out;
    // the last stays inside the drawing).
    var lastRight = -Double.infinity
    for tick in frame.xScale.ticks {
      let x0 = frame.px(tick), label = x.tickLabel(tick)
      out.line(x0, frame.top, x0, frame.bottom, stroke: "#ececec")
      let half = textWidth(label, size: 11) / 2
      let center = min(max(x0, half + 2), width - half - 2)
      guard center - half > lastRight + 6 else { continue }
      lastRight = center + half
      out.text(label, x: center, y: frame.bottom + 16, size: 11, fill: "#444", anchor: "middle")
    }
    // Horizontal grid lines and y tick labels, at least 14 pixels apart.
    var lastY = Double.infinity
    for tick in frame.yScale.ticks {
      let y0 = frame.py(tick, frame.yScale)
      out.line(frame.left, y0, frame.right, y0, stroke: "#ececec")
      guard lastY - y0 >= 14 else { continue }
      lastY = y0
      out.text(y.tickLabel(tick), x: frame.left - 6, y: y0 + 4, size: 11, fill: "#444", anchor: "end")
    }
    if let secondaryY, let y2Scale = frame.y2Scale {
      var last = Double.infinity
      for tick in y2Scale.ticks {
        let y0 = frame.py(tick, y2Scale)
        guard last - y0 >= 14 else { continue }
        last = y0
        out.text(secondaryY.tickLabel(tick), x: frame.right + 6, y: y0 + 4, size: 11, fill: "#444")
      }
      let x0 = width - 10
      out.text(
        secondaryY.label, x: x0, y: frame.middle, size: 12, anchor: "middle",
        [("transform", "rotate(90 \(coord(x0)) \(coord(frame.middle)))")])
    }
    out.rect(
      frame.left, frame.top, width: frame.right - frame.left, height: plotHeight, fill: "none", [("stroke", "#999")])
    out.text(x.label, x: (frame.left + frame.right) / 2, y: frame.bottom + 38, size: 12, anchor: "middle")
    out.text(
      y.label, x: 14, y: frame.middle, size: 12, anchor: "middle",
      [("transform", "rotate(-90 14 \(coord(frame.middle)))")])
  }

  private func drawSeries(_ frame: Frame, into out: inout SVGWriter) {
    let barSeries = series.filter { $0.style == .bars }.count
    var barIndex = 0
    for (entry, color) in frame.series {
      let scale = entry.onSecondaryAxis ? (frame.y2Scale ?? frame.yScale) : frame.yScale
      let finite = entry.points.filter { $0.x.isFinite && $0.y.isFinite }
      func tip(_ point: (x: Double, y: Double)) -> String {
        "\(entry.name): \(ChartAxis.compactNumber(point.y)) at \(x.tickLabel(point.x))"
      }
      switch entry.style {
      case .line, .lineAndPoints:
        // A non-finite point lifts the pen: the line has a gap there.
        var path = ""
        var pen = false
        for point in entry.points {
          guard point.x.isFinite && point.y.isFinite else {
            pen = false
            continue
          }
          path += (pen ? " L" : " M") + coord(frame.px(point.x)) + " " + coord(frame.py(point.y, scale))
          pen = true
        }
        if !path.isEmpty {
          var attributes = [
            ("d", String(path.dropFirst())), ("fill", "none"), ("stroke", color), ("stroke-width", "1.8"),
            ("stroke-linejoin", "round"),
          ]
          if entry.dashed { attributes.append(("stroke-dasharray", "6 4")) }
          out.empty("path", attributes)
        }
        if entry.style == .lineAndPoints {
          for point in finite {
            marker(entry.marker, color: color, x: frame.px(point.x), y: frame.py(point.y, scale), tip: tip(point), &out)
          }
        }
      case .points:
        for point in finite {
          marker(entry.marker, color: color, x: frame.px(point.x), y: frame.py(point.y, scale), tip: tip(point), &out)
        }
      case .bars:
        // Side by side when several bar series share an x; never wider than the gaps between
        // points, nor outside the plot.
        let xs = Set(finite.map { frame.px($0.x) }).sorted()
        let gap = zip(xs, xs.dropFirst()).map { $1 - $0 }.min() ?? 20
        let barWidth = max(1.5, min(14, gap * 0.8 / Double(max(1, barSeries))))
        let base = frame.py(scale.barBase, scale)
        for point in finite {
          let top = frame.py(point.y, scale)
          let offset = Double(barIndex) * barWidth - Double(barSeries) * barWidth / 2
          let x0 = min(max(frame.left, frame.px(point.x) + offset), frame.right - barWidth)
          out.rect(x0, min(top, base), width: barWidth, height: abs(base - top), fill: color, tip: tip(point))
        }
        barIndex += 1
      }
      for (point, label) in zip(entry.points, entry.labels) where point.x.isFinite && point.y.isFinite {
        guard !label.isEmpty else { continue }
        out.text(label, x: frame.px(point.x) + 6, y: frame.py(point.y, scale) - 6, size: 10)
      }
    }
  }

  private func drawLegend(_ frame: Frame, into out: inout SVGWriter) {
    for item in frame.legend {
      let y0 = 34 + Double(item.row) * 18 + 4
      switch item.series.style {
      case .bars:
        out.rect(item.x, y0 - 5, width: 14, height: 10, fill: item.color)
      case .points:
        marker(item.series.marker, color: item.color, x: item.x + 9, y: y0, tip: nil, &out)
      case .line, .lineAndPoints:
        let dash: [(String, String)] = item.series.dashed ? [("stroke-dasharray", "5 3")] : []
        out.line(item.x, y0, item.x + 18, y0, stroke: item.color, [("stroke-width", "2")] + dash)
        if item.series.style == .lineAndPoints {
          marker(item.series.marker, color: item.color, x: item.x + 9, y: y0, tip: nil, &out)
        }
      }
      out.text(item.series.name, x: item.x + 24, y: y0 + 4, size: 12)
    }
  }

  private func marker(
    _ marker: ChartSeries.Marker, color: String, x: Double, y: Double, tip: String?, _ out: inout SVGWriter
  ) {
    let name: String
    switch marker {
    case .circle:
      name = "circle"
      out.open(name, [("cx", coord(x)), ("cy", coord(y)), ("r", "3.2"), ("fill", color)])
    case .square:
      name = "rect"
      out.open(name, [("x", coord(x - 3)), ("y", coord(y - 3)), ("width", "6"), ("height", "6"), ("fill", color)])
    case .cross:
      name = "path"
      let (a, b, c, d) = (coord(x - 4), coord(x + 4), coord(y - 4), coord(y + 4))
      out.open(name, [("d", "M\(a) \(c) L\(b) \(d) M\(a) \(d) L\(b) \(c)"), ("stroke", color), ("stroke-width", "2")])
    }
    if let tip { out.element("title", text: tip) }
    out.close(name)
  }
}
