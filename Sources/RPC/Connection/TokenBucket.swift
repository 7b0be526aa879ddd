import NIOCore

/// A rate limit: up to `capacity` events at once, refilled at `perSecond`. Used to bound PING
/// and CANCEL floods. Time is passed in, so tests need no clock.
struct TokenBucket: Hashable, Sendable {
  let capacity: Double
  let perSecond: Double
  private var tokens: Double
  private var last: NIODeadline?

  init(capacity: Int, perSecond: Int) {
    self.capacity = Double(capacity)
    self.perSecond = Double(perSecond)
    self.tokens = Double(capacity)
  }

  /// Takes one token; false when the bucket is empty (the rate was exceeded).
  mutating func take(now: NIODeadline) -> Bool {
    if let last {
      let elapsed = Double((now - last).nanoseconds) / 1e9
      tokens = min(capacity, tokens + max(0, elapsed) * perSecond)
    }
    last = now
    guard tokens >= 1 else { return false }
    tokens -= 1
    return true
  }
}
