import Foundation

/// A chart as inline SVG: x and y axes (linear or logarithmic, with ticks and labels), an
/// optional right-hand axis, series drawn as lines, points or bars, shaded bands along x and
/// horizontal reference lines, a legend. ``svg()`` draws it; it needs no script, font or file.
///
/// Data may be anything: an empty chart says "no data", a single point gets a range around it,
/// non-finite values are left out (a non-finite y breaks a line), values at or below zero sit
/// on the bottom of a logarithmic axis, and a huge outlier only stretches its axis.
public struct SVGChart: Sendable {
  public var title: String
  public var x: ChartAxis
  public var y: ChartAxis
  /// The right-hand axis of the series with `onSecondaryAxis` (errors per second beside
  /// latency, say); nil: every series uses `y`.
  public var secondaryY: ChartAxis?
  public var series: [ChartSeries]
  public var bands: [ChartBand]
  public var rules: [ChartRule]
  /// A line under the chart (what a point is, where the data came from).
  public var caption: String?
  /// The drawing's width and the plot area's height, in pixels.
  public var width: Double
  public var plotHeight: Double

  public init(
    title: String, x: ChartAxis, y: ChartAxis, secondaryY: ChartAxis? = nil, series: [ChartSeries],
    bands: [ChartBand] = [], rules: [ChartRule] = [], caption: String? = nil, width: Double = 920,
    plotHeight: Double = 260
  ) {
    self.title = title
    self.x = x
    self.y = y
    self.secondaryY = secondaryY
    self.series = series
    self.bands = bands
    self.rules = rules
    self.caption = caption
    self.width = width
    self.plotHeight = plotHeight
  }
}

/// One axis: its label, scale, range (fixed, or from the data) and how ticks are labelled.
public struct ChartAxis: Sendable {
  public enum Scale: Sendable, Equatable {
    case linear
    /// Base 10; ticks at powers of ten (and 2 and 5 times them when the range is short).
    case logarithmic
  }

  public var label: String
  public var scale: Scale
  /// A fixed range; nil: from the data (widened to round ticks).
  public var range: ClosedRange<Double>?
  /// Linear scale from data: whether the range reaches down (or up) to zero.
  public var includesZero: Bool
  /// Labels a tick value.
  public var tickLabel: @Sendable (Double) -> String

  public init(
    _ label: String, scale: Scale = .linear, range: ClosedRange<Double>? = nil, includesZero: Bool = true,
    tickLabel: @escaping @Sendable (Double) -> String = ChartAxis.compactNumber
  ) {
    self.label = label
    self.scale = scale
    self.range = range
    self.includesZero = includesZero
    self.tickLabel = tickLabel
  }

  /// A number in at most four significant digits, thousands as k, millions as M, billions as G.
  public static let compactNumber: @Sendable (Double) -> String = { value in
    let magnitude = abs(value)
    func digits(_ v: Double) -> String {
      var text = String(v.formatted4)
      if text.contains("e") { return text }
      if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
      }
      return text == "-0" ? "0" : text
    }
    if magnitude >= 1e9 { return digits(value / 1e9) + "G" }
    if magnitude >= 1e6 { return digits(value / 1e6) + "M" }
    if magnitude >= 1e4 { return digits(value / 1e3) + "k" }
    return digits(value)
  }

  /// For the percentile spectrum's x axis, whose values are 1/(1 - p): 1 is "0%", 10 "90%",
  /// 100 "99%", 1000 "99.9%".
  public static let percentileOfInverseTail: @Sendable (Double) -> String = { value in
    guard value >= 1 else { return "" }
    let percent = 100 * (1 - 1 / value)
    var text = String(percent.formatted(decimals: 6))
    if text.contains(".") {
      while text.hasSuffix("0") { text.removeLast() }
      if text.hasSuffix(".") { text.removeLast() }
    }
    return text + "%"
  }
}

/// One series of points.
public struct ChartSeries: Sendable {
  public enum Style: Sendable, Equatable {
    case line
    case points
    case lineAndPoints
    /// Bars from the axis' bottom (or zero) up to each point; several bar series stand side by
    /// side at each x.
    case bars
  }

  public enum Marker: Sendable, Equatable {
    case circle
    case cross
    case square
  }

  public var name: String
  public var points: [(x: Double, y: Double)]
  public var style: Style
  public var marker: Marker
  /// A CSS colour; nil: the next of the chart's palette.
  public var color: String?
  public var dashed: Bool
  public var onSecondaryAxis: Bool
  /// Text beside each point (same order as `points`; missing or empty labels draw nothing).
  public var labels: [String]

  public init(
    _ name: String, points: [(x: Double, y: Double)], style: Style = .line, marker: Marker = .circle,
    color: String? = nil, dashed: Bool = false, onSecondaryAxis: Bool = false, labels: [String] = []
  ) {
    self.name = name
    self.points = points
    self.style = style
    self.marker = marker
    self.color = color
    self.dashed = dashed
    self.onSecondaryAxis = onSecondaryAxis
    self.labels = labels
  }
}

/// A shaded range of x (the warm-up, say), labelled at its top.
public struct ChartBand: Sendable {
  public var from: Double
  public var to: Double
  public var label: String
  public var color: String

  public init(from: Double, to: Double, label: String, color: String = "#e8e8e8") {
    self.from = from
    self.to = to
    self.label = label
    self.color = color
  }
}

/// A horizontal line at a y value of the left axis (an objective, say), labelled at its left.
public struct ChartRule: Sendable {
  public var y: Double
  public var label: String
  public var color: String

  public init(y: Double, label: String, color: String = "#b00020") {
    self.y = y
    self.label = label
    self.color = color
  }
}

extension Double {
  /// Four significant digits (`%.4g`).
  var formatted4: String { String(format: "%.4g", self) }

  /// Fixed decimals (`%.Nf`).
  func formatted(decimals: Int) -> String { String(format: "%.\(decimals)f", self) }
}
