import Foundation

/// When the open model's arrivals are meant to be sent: a constant rate, or a rate that ramps
/// linearly from `rate` to `rampTo` over the measured window, with evenly spaced (uniform) or
/// Poisson (exponentially distributed gaps) arrivals.
///
/// The warm-up runs at the starting rate; the ramp starts when measuring starts. A pure value:
/// `next()` returns intended send times in nanoseconds from the run's start, in order, and nil
/// once the run's end is reached. The same seed gives the same schedule.
public struct ArrivalSchedule: Sendable {
  /// How gaps between arrivals are drawn.
  public enum Spacing: String, Sendable, Codable, CaseIterable {
    /// Every gap is 1/rate.
    case uniform
    /// Gaps are exponentially distributed with mean 1/rate (a Poisson process).
    case poisson
  }

  public let rate: Double
  public let rampTo: Double?
  public let spacing: Spacing
  /// Nanoseconds of warm-up at `rate`, then of the measured window.
  public let warmup: UInt64
  public let duration: UInt64
  private var random: SplitMix64
  private var time: Double = 0

  public init(rate: Double, rampTo: Double? = nil, spacing: Spacing, warmup: UInt64, duration: UInt64, seed: UInt64 = 1)
  {
    precondition(rate > 0 && (rampTo ?? 1) > 0, "arrival rates must be positive")
    self.rate = rate
    self.rampTo = rampTo
    self.spacing = spacing
    self.warmup = warmup
    self.duration = duration
    self.random = SplitMix64(seed: seed)
  }

  /// The arrival rate (per second) in force at `nanoseconds` from the start.
  public func rate(at nanoseconds: Double) -> Double {
    guard let rampTo, nanoseconds > Double(warmup), duration > 0 else { return rate }
    let fraction = min(1, (nanoseconds - Double(warmup)) / Double(duration))
    return rate + (rampTo - rate) * fraction
  }

  /// The next intended send time, or nil past the end.
  public mutating func next() -> UInt64? {
    let current = time
    guard current < Double(warmup + duration) else { return nil }
    let gap = 1e9 / rate(at: current)
    switch spacing {
    case .uniform: time += gap
    case .poisson: time += -gap * log(random.nextUnitInterval())
    }
    return UInt64(current)
  }

  /// How many arrivals the schedule intends between `from` and `to` (nanoseconds from the
  /// start): the integral of its rate, exact for the constant warm-up and the linear ramp;
  /// none past the run's end.
  public func expectedArrivals(from: UInt64, to: UInt64) -> Double {
    let end = Double(warmup + duration)
    let a = min(Double(from), end), b = min(Double(to), end)
    guard b > a else { return 0 }
    let pieces = a < Double(warmup) && b > Double(warmup) ? [(a, Double(warmup)), (Double(warmup), b)] : [(a, b)]
    return pieces.reduce(0) { sum, piece in
      sum + (rate(at: piece.0) + rate(at: piece.1)) / 2 * (piece.1 - piece.0) / 1e9
    }
  }

  /// How many arrivals the schedule intends in the measured window (the integral of the rate).
  public var expectedMeasuredArrivals: Double {
    Double(duration) / 1e9 * (rate + (rampTo ?? rate)) / 2
  }
}
