/// Exponential back-off with full jitter: a random wait between zero and
/// `min(maximum, initial * 2^(attempt - 1))`.
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
