/// Exponential back-off with jitter: a random wait between half and all of
/// `min(maximum, initial * 2^(attempt - 1))` (`random(0.5…1)` times that ceiling), so a retry
/// never comes sooner than half the ceiling.
enum Backoff {
  static func delay(attempt: Int, initial: Duration, maximum: Duration) -> Duration {
    let exponent = min(max(attempt - 1, 0), 20)
    let ceiling = min(maximum, initial * (1 << exponent))
    let nanoseconds = ceiling.components.seconds * 1_000_000_000
      + ceiling.components.attoseconds / 1_000_000_000
    guard nanoseconds > 0 else { return .zero }
    return .nanoseconds(Int64.random(in: (nanoseconds / 2)...nanoseconds))
  }
}
