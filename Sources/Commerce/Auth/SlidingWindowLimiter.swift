public import Foundation

/// Counts events per key in a sliding window and says when a key has reached its limit, and for
/// how long it stays there. A pure value: the caller passes the time, so tests move a clock
/// instead of sleeping.
///
/// AuthService keeps its limiters in memory, per process (see ``AuthService``): the limits are
/// per instance, which is enough to slow down guessing and bulk registration without a database
/// write on every failed login.
public struct SlidingWindowLimiter<Key: Hashable & Sendable>: Sendable {
  /// Events allowed per key within ``window``.
  public let limit: Int
  /// The window, in seconds.
  public let window: TimeInterval
  /// At most this many keys are tracked; beyond it, keys whose events all left the window are
  /// dropped first, then the least recently seen, down to 90% of the maximum.
  public let maximumKeys: Int
  private var events: [Key: [Date]] = [:]

  public init(limit: Int, window: TimeInterval, maximumKeys: Int = 100_000) {
    self.limit = max(1, limit)
    self.window = window
    self.maximumKeys = max(1, maximumKeys)
  }

  /// How long `key` must wait before another event is allowed, or nil when one is allowed now.
  public mutating func retryAfter(_ key: Key, now: Date) -> TimeInterval? {
    let recent = prune(key, now: now)
    guard recent.count >= limit else { return nil }
    // The window reopens when the oldest event that keeps the key at its limit leaves it.
    let oldest = recent[recent.count - limit]
    return max(1, oldest.addingTimeInterval(window).timeIntervalSince(now))
  }

  /// Records an event for `key`.
  public mutating func record(_ key: Key, now: Date) {
    var recent = prune(key, now: now)
    recent.append(now)
    if recent.count > limit { recent.removeFirst(recent.count - limit) }
    events[key] = recent
    if events.count > maximumKeys { evict(now: now) }
  }

  /// Forgets every event of `key` (a successful login clears its email's failures).
  public mutating func reset(_ key: Key) {
    events[key] = nil
  }

  /// The events of `key` still in the window.
  public mutating func count(_ key: Key, now: Date) -> Int { prune(key, now: now).count }

  private mutating func prune(_ key: Key, now: Date) -> [Date] {
    guard let stored = events[key] else { return [] }
    let start = now.addingTimeInterval(-window)
    let recent = stored.filter { $0 > start }
    events[key] = recent.isEmpty ? nil : recent
    return recent
  }

  private mutating func evict(now: Date) {
    let start = now.addingTimeInterval(-window)
    events = events.filter { $0.value.last.map { $0 > start } ?? false }
    // Down to 90%, so that a flood of new keys does not pay for a sweep on every event.
    let target = maximumKeys - maximumKeys / 10
    if events.count <= target { return }
    let excess = events.count - target
    for key in events.sorted(by: { ($0.value.last ?? .distantPast) < ($1.value.last ?? .distantPast) }).prefix(excess).map(\.key) {
      events[key] = nil
    }
  }
}
