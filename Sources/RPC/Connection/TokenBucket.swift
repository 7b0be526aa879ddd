public import NIOCore

/// A rate limit: up to `capacity` events at once, refilled at `perSecond`. Used to bound PING
/// and CANCEL floods, and by the API gateway per caller. Time is passed in, so tests need no
/// clock.
public struct TokenBucket: Hashable, Sendable {
  public let capacity: Double
  public let perSecond: Double
  private var tokens: Double
  private var last: NIODeadline?

  public init(capacity: Int, perSecond: Int) {
    self.init(capacity: Double(capacity), perSecond: Double(perSecond))
  }

  public init(capacity: Double, perSecond: Double) {
    self.capacity = capacity
    self.perSecond = perSecond
    self.tokens = capacity
  }

  /// Takes one token; false when the bucket is empty (the rate was exceeded).
  public mutating func take(now: NIODeadline) -> Bool {
    refill(now: now)
    guard tokens >= 1 else { return false }
    tokens -= 1
    return true
  }

  /// How long until the next token (zero when one is there now).
  public mutating func wait(now: NIODeadline) -> TimeAmount {
    refill(now: now)
    guard tokens < 1, perSecond > 0 else { return .zero }
    return .nanoseconds(Int64(((1 - tokens) / perSecond * 1e9).rounded(.up)))
  }

  /// Whether the bucket is full at `now`: a caller idle long enough to have no history.
  public func isFull(now: NIODeadline) -> Bool {
    guard let last else { return true }
    return tokens + Double((now - last).nanoseconds) / 1e9 * perSecond >= capacity
  }

  private mutating func refill(now: NIODeadline) {
    if let last {
      let elapsed = Double((now - last).nanoseconds) / 1e9
      tokens = min(capacity, tokens + max(0, elapsed) * perSecond)
    }
    last = now
  }
}
