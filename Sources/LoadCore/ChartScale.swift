import Foundation

/// One axis' mapping from values to a fraction of the plot (0 at the bottom or left, 1 at the
/// top or right), and its ticks: from the axis' fixed range or from the data, widened to
/// round ticks. Non-finite values are ignored; a logarithmic axis ignores values at or below
/// zero for its range and pins them to its bottom.
struct ChartScale {
  let scale: ChartAxis.Scale
  let lower: Double
  let upper: Double
  let ticks: [Double]

  /// `horizontal`: an x axis, whose range from data is widened to whole ticks only when that
  /// leaves little of the plot empty (a time axis ending at 8.05 s is not drawn to 10); a y
  /// axis always is, a little above its highest value, so the highest line has room under the
  /// frame.
  init(axis: ChartAxis, values: [Double], horizontal: Bool = false) {
    scale = axis.scale
    // Clamped so that differences and logarithms of the extremes stay finite.
    let finite = values.filter(\.isFinite).map { min(max($0, -1e300), 1e300) }
    switch axis.scale {
    case .linear:
      var lo: Double, hi: Double
      if let range = axis.range, range.lowerBound.isFinite, range.upperBound.isFinite,
        range.upperBound > range.lowerBound
      {
        (lo, hi) = (range.lowerBound, range.upperBound)
        let step = Self.niceStep((hi - lo) / 5)
        ticks = Self.linearTicks(from: (lo / step).rounded(.up) * step, to: hi, step: step)
      } else {
        lo = finite.min() ?? 0
        hi = finite.max() ?? 1
        if axis.includesZero {
          lo = min(lo, 0)
          hi = max(hi, 0)
        }
        if hi - lo <= max(abs(hi), abs(lo)) * 1e-12 {  // one value, or all equal: a range around it
          let pad = lo == 0 ? 1 : abs(lo) * 0.1
          if !(axis.includesZero && lo == 0) { lo -= pad }
          hi += pad
        }
        if !horizontal && hi > 0 { hi += (hi - lo) * 0.04 }  // a line at the maximum stays off the frame
        let step = Self.niceStep((hi - lo) / 5)
        let span = hi - lo
        let roundedLo = (lo / step).rounded(.down) * step, roundedHi = (hi / step).rounded(.up) * step
        if !horizontal || lo - roundedLo <= span * 0.12 { lo = roundedLo }
        if !horizontal || roundedHi - hi <= span * 0.12 { hi = roundedHi }
        ticks = Self.linearTicks(from: (lo / step).rounded(.up) * step, to: hi, step: step)
      }
      lower = lo
      upper = hi
    case .logarithmic:
      var lo: Double, hi: Double
      if let range = axis.range, range.lowerBound > 0, range.upperBound.isFinite, range.upperBound > range.lowerBound {
        (lo, hi) = (range.lowerBound, range.upperBound)
      } else {
        let positive = finite.filter { $0 > 0 }
        lo = pow(10, (log10(positive.min() ?? 1)).rounded(.down))
        hi = pow(10, (log10(positive.max() ?? 10)).rounded(.up))
        if hi <= lo { hi = lo * 10 }
      }
      lower = lo
      upper = hi
      ticks = Self.logTicks(from: lo, to: hi)
    }
  }

  /// Where `value` sits between the axis' ends, 0...1 (values outside are pinned to the ends).
  func fraction(_ value: Double) -> Double {
    let f: Double
    switch scale {
    case .linear:
      f = (value - lower) / (upper - lower)
    case .logarithmic:
      guard value > 0 else { return 0 }
      f = (log10(value) - log10(lower)) / (log10(upper) - log10(lower))
    }
    return f.isFinite ? min(1, max(0, f)) : 0
  }

  /// The bottom of bars: zero on a linear axis that holds it, else the axis' bottom.
  var barBase: Double {
    scale == .linear && lower <= 0 && upper >= 0 ? 0 : lower
  }

  /// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
  static func niceStep(_ raw: Double) -> Double {
    guard raw.isFinite, raw > 0 else { return 1 }
    let power = pow(10, log10(raw).rounded(.down))
    for factor in [1, 2, 2.5, 5, 10] where factor * power >= raw * (1 - 1e-9) { return factor * power }
    return 10 * power
  }

  private static func linearTicks(from lower: Double, to upper: Double, step: Double) -> [Double] {
    var ticks: [Double] = []
    var i = 0.0
    while ticks.count < 50 {
      let tick = lower + i * step
      if tick > upper + step * 1e-9 { break }
      ticks.append(abs(tick) < step * 1e-9 ? 0 : tick)
      i += 1
    }
    return ticks
  }

  private static func logTicks(from lower: Double, to upper: Double) -> [Double] {
    let first = Int(log10(lower).rounded(.up)), last = Int(log10(upper).rounded(.down))
    guard last >= first else { return [lower, upper] }
    let decades = last - first
    if decades <= 2 {
      var ticks: [Double] = []
      for exponent in (first - 1)...last {
        for factor in [1.0, 2, 5] {
          let tick = factor * pow(10, Double(exponent))
          if tick >= lower * (1 - 1e-9) && tick <= upper * (1 + 1e-9) { ticks.append(tick) }
        }
      }
      return ticks
    }
    let stride = max(1, (decades + 7) / 8)
    return Swift.stride(from: first, through: last, by: stride).map { pow(10, Double($0)) }
  }
}
