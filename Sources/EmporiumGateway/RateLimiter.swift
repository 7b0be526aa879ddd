public import NIOCore
public import RPC
import Synchronization

/// A request rate per key (a principal, a client address): a token bucket each, refilled at
/// ``Limit/perSecond`` up to ``Limit/burst``. The keys are bounded: when ``capacity`` keys are
/// held, those idle long enough for a full bucket are forgotten first (they have no history
/// worth keeping), and if every bucket is in use the key that arrives is limited as though its
/// bucket were empty, so a flood of new keys cannot grow the table.
public final class RateLimiter: Sendable {
  /// A rate and its burst.
  public struct Limit: Sendable, Hashable {
    public var perSecond: Double
    public var burst: Double

    public init(perSecond: Double, burst: Double) {
      self.perSecond = perSecond
      self.burst = max(1, burst)
    }
  }

  public let limit: Limit
  public let capacity: Int
  private let buckets: Mutex<[String: TokenBucket]>

  public init(_ limit: Limit, capacity: Int = 100_000) {
    self.limit = limit
    self.capacity = max(1, capacity)
    self.buckets = Mutex([:])
  }

  /// Takes one request for `key`: nil when it may go ahead, otherwise how long until it may.
  public func admit(_ key: String, now: NIODeadline = .now()) -> TimeAmount? {
    buckets.withLock { buckets -> TimeAmount? in
      if buckets[key] == nil {
        if buckets.count >= capacity {
          buckets = buckets.filter { !$0.value.isFull(now: now) }
          guard buckets.count < capacity else { return .seconds(1) }
        }
        buckets[key] = TokenBucket(capacity: limit.burst, perSecond: limit.perSecond)
      }
      if buckets[key]!.take(now: now) { return nil }
      return max(.milliseconds(1), buckets[key]!.wait(now: now))
    }
  }

  /// Keys held now (for tests and metrics).
  public var keyCount: Int { buckets.withLock { $0.count } }
}
