import Synchronization

/// The time journeys spent in flight inside the measured window, summed over journeys (so,
/// over the window's length, the mean number in flight): each journey adds the part of
/// [send, completion] that falls inside [windowStart, windowEnd]. Lock-free: journeys add
/// from any task.
final class InFlightTime: Sendable {
  let windowStart: UInt64
  let windowEnd: UInt64
  private let nanoseconds = Atomic<UInt64>(0)

  init(windowStart: UInt64, windowEnd: UInt64) {
    self.windowStart = windowStart
    self.windowEnd = windowEnd
  }

  /// Adds a journey in flight from `from` to `to` (nanoseconds of the run's clock).
  func add(from: UInt64, to: UInt64) {
    let overlap = Self.overlap(from: from, to: to, windowStart: windowStart, windowEnd: windowEnd)
    if overlap > 0 { nanoseconds.wrappingAdd(overlap, ordering: .relaxed) }
  }

  /// The nanoseconds summed so far.
  var total: UInt64 { nanoseconds.load(ordering: .relaxed) }

  /// How much of [from, to] lies inside [windowStart, windowEnd].
  static func overlap(from: UInt64, to: UInt64, windowStart: UInt64, windowEnd: UInt64) -> UInt64 {
    let start = max(from, windowStart)
    let end = min(to, windowEnd)
    return end > start ? end - start : 0
  }
}
