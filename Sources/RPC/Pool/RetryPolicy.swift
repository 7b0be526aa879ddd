import Messages
import Synchronization

/// Exponential backoff with jitter: attempt n waits `initial × multiplier^(n-1)`, capped at
/// `maximum`, then spread by ±`jitter` (a fraction) so that clients that failed together do
/// not come back together.
public struct Backoff: Hashable, Sendable {
  public var initial: Duration
  public var maximum: Duration
  public var multiplier: Double
  /// 0 ... 1: the delay is multiplied by a random factor in [1 - jitter, 1 + jitter].
  public var jitter: Double

  public init(
    initial: Duration = .milliseconds(100), maximum: Duration = .seconds(10), multiplier: Double = 1.6,
    jitter: Double = 0.2
  ) {
    self.initial = initial
    self.maximum = maximum
    self.multiplier = multiplier
    self.jitter = jitter
  }

  /// The delay before attempt `attempt` (1 = the first retry); `random` is uniform in [0, 1).
  public func delay(attempt: Int, random: Double) -> Duration {
    var capped = initial.seconds
    for _ in 1..<max(1, attempt) where capped < maximum.seconds { capped *= multiplier }
    capped = min(capped, maximum.seconds)
    let spread = capped * (1 + jitter * (2 * random - 1))
    return .nanoseconds(Int64(max(0, spread) * 1e9))
  }
}

/// How a pool retries a method that failed after reaching a server. Only give one to methods
/// that are safe to run twice (idempotent): a call that failed with UNAVAILABLE when its
/// connection broke may have been applied.
///
/// Calls the server refused before processing them are retried whatever the policy (see
/// ``RPCClientPool``).
public struct RetryPolicy: Hashable, Sendable {
  /// Attempts in all, the first included. 2 ... 10.
  public var maxAttempts: Int
  /// The wait before each retry.
  public var backoff: Backoff
  /// The status codes that are retried.
  public var retryableCodes: Set<RPCStatusCode>

  public init(
    maxAttempts: Int = 3,
    backoff: Backoff = Backoff(initial: .milliseconds(25), maximum: .seconds(1), multiplier: 2, jitter: 0.5),
    retryableCodes: Set<RPCStatusCode> = [.unavailable]
  ) {
    self.maxAttempts = min(10, max(2, maxAttempts))
    self.backoff = backoff
    self.retryableCodes = retryableCodes
  }
}

/// Which methods get which ``RetryPolicy``: by full path (`/pkg.Service/Method`) first, then by
/// service name (`pkg.Service`), then `idempotentMethods` for methods whose proto declares them
/// safe to repeat (`option idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`). Other methods
/// are not retried (only calls the server refused are).
public struct RetryPolicies: Sendable {
  var byKey: [String: RetryPolicy] = [:]
  /// The policy of methods declared idempotent or free of side effects, unless a path or
  /// service entry says otherwise; nil retries none of them. Default: ``RetryPolicy/init()``
  /// (3 attempts on UNAVAILABLE).
  public var idempotentMethods: RetryPolicy? = RetryPolicy()

  public init() {}

  /// `key` is a method path (`/emporium.rpc.v1.EchoService/Echo`) or a service name
  /// (`emporium.rpc.v1.EchoService`).
  public subscript(key: String) -> RetryPolicy? {
    get { byKey[key] }
    set { byKey[key] = newValue }
  }

  func policy(for method: ProtoMethodDescriptor) -> RetryPolicy? {
    if !byKey.isEmpty, let policy = byKey[method.path] ?? byKey[method.service] { return policy }
    return method.idempotency.isRetrySafe ? idempotentMethods : nil
  }
}

/// A token bucket that caps retries relative to successes, so retries cannot multiply an
/// outage: every failed attempt that could be retried takes a token, every success returns
/// `tokenRatio` of one, and retries are allowed only while more than half the tokens are left.
/// With the defaults (10 tokens, ratio 0.1), a pool whose calls all fail stops retrying after 5
/// failures and resumes once successes have refilled the bucket; at a steady 1% failure rate
/// every failure is retried. (The scheme gRPC calls retry throttling.)
public struct RetryBudget: Hashable, Sendable {
  public var maxTokens: Double
  public var tokenRatio: Double

  public init(maxTokens: Double = 10, tokenRatio: Double = 0.1) {
    self.maxTokens = max(1, maxTokens)
    self.tokenRatio = max(0, tokenRatio)
  }
}

/// The live state of a ``RetryBudget``, shared by every call of a pool.
final class RetryThrottle: Sendable {
  private let budget: RetryBudget
  private let tokens: Mutex<Double>

  init(_ budget: RetryBudget) {
    self.budget = budget
    self.tokens = Mutex(budget.maxTokens)
  }

  /// A call succeeded.
  func recordSuccess() {
    guard budget.tokenRatio > 0 else { return }
    tokens.withLock { $0 = min(budget.maxTokens, $0 + budget.tokenRatio) }
  }

  /// An attempt failed with a retryable status: takes a token; returns whether a retry is
  /// allowed.
  func recordFailureAndAskToRetry() -> Bool {
    tokens.withLock { tokens in
      tokens = max(0, tokens - 1)
      return tokens > budget.maxTokens / 2
    }
  }

  var available: Double { tokens.withLock { $0 } }
}

extension Duration {
  var seconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) + Double(attoseconds) / 1e18
  }

  var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}
