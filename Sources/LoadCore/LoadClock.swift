/// The time source of a load run: nanoseconds on a monotonic scale, and sleeping until a point
/// of that scale.
///
/// The engine reads it for every intended send time and every completion, so latencies,
/// lateness and intervals all come from one clock. Tests inject their own for decisions that
/// must not depend on how busy the machine is (``OpenLoopAdmission`` takes plain times).
public protocol LoadClock: Sendable {
  /// Now, in nanoseconds since the clock's origin.
  func now() -> UInt64
  /// Returns at `deadline` (nanoseconds since the origin) or later; at once when it has passed.
  /// Throws `CancellationError` when the calling task is cancelled.
  func sleep(until deadline: UInt64) async throws
}

/// The system's monotonic clock (`ContinuousClock`), with its origin at creation.
public struct SystemLoadClock: LoadClock {
  private let origin: ContinuousClock.Instant

  public init() { origin = .now }

  public func now() -> UInt64 {
    let elapsed = ContinuousClock.now - origin
    let (seconds, attoseconds) = elapsed.components
    return UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds) / 1_000_000_000)
  }

  public func sleep(until deadline: UInt64) async throws {
    guard deadline > now() else { try Task.checkCancellation(); return }
    try await Task.sleep(until: origin + .nanoseconds(Int64(deadline)), clock: .continuous)
  }
}

extension Duration {
  /// The duration in whole nanoseconds (negative durations give 0).
  public var loadNanoseconds: UInt64 {
    let (seconds, attoseconds) = components
    if seconds < 0 || (seconds == 0 && attoseconds < 0) { return 0 }
    return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
  }
}
