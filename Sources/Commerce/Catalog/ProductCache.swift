import Foundation
import Synchronization

/// The in-process cache of product pages behind GetProduct and BatchGetProducts.
///
/// - **Bounded.** Entries are weighed by their approximate size in bytes; past the budget the
///   least recently used ones go.
/// - **Invalidated across processes.** Every change to a product is announced on the catalog's
///   NOTIFY channel when it commits; each process's listener evicts the product (or everything,
///   for "*"). Until the listener is subscribed nothing is cached, so no change can be missed.
/// - **No stale refill.** A reader that loaded a page while an invalidation arrived does not
///   store it: a fill is tagged with the invalidation count when its read began.
/// - **Self-healing.** Entries also expire after ``timeToLive``, so a notification lost while
///   the listening connection reconnected cannot keep a stale page for long.
final class ProductCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  struct Statistics: Sendable, Hashable {
    var hits = 0
    var misses = 0
    var entries = 0
    var bytes = 0
    var evictions = 0
    var invalidations = 0
  }

  private struct Entry {
    var value: Value
    var size: Int
    var storedAt: ContinuousClock.Instant
    var lastUse: UInt64
  }

  private struct State {
    var entries: [Key: Entry] = [:]
    var bytes = 0
    var useClock: UInt64 = 0
    var invalidationCount: UInt64 = 0
    var listening = false
    var statistics = Statistics()
  }

  let budgetBytes: Int
  let timeToLive: Duration
  private let state = Mutex(State())

  init(budgetBytes: Int = 64 << 20, timeToLive: Duration = .seconds(60)) {
    self.budgetBytes = max(1, budgetBytes)
    self.timeToLive = timeToLive
  }

  /// A fill ticket: take it before reading the source, hand it to ``store(_:_:size:ticket:)``.
  struct Ticket: Sendable {
    fileprivate var invalidationCount: UInt64
    fileprivate var listening: Bool
  }

  func ticket() -> Ticket {
    state.withLock { Ticket(invalidationCount: $0.invalidationCount, listening: $0.listening) }
  }

  /// The cached value for `key`, if fresh.
  func value(for key: Key, now: ContinuousClock.Instant = .now) -> Value? {
    read(key, now: now) { $0 }
  }

  /// `body` of the cached value for `key`, if fresh, without copying the value: for a caller
  /// that needs a part of a large value. `body` runs under the cache's lock; keep it short.
  ///
  /// A hit marks the entry used in place: copying the entry out and back, as this did, retained
  /// and released every reference a product page holds, twice per hit (4.5% of a server's CPU
  /// answering cached pages).
  func read<Result>(_ key: Key, now: ContinuousClock.Instant = .now, _ body: (Value) -> Result) -> Result? {
    state.withLock { state in
      guard let index = state.entries.index(forKey: key) else {
        state.statistics.misses += 1
        return nil
      }
      guard now - state.entries.values[index].storedAt < timeToLive else {
        state.bytes -= state.entries.values[index].size
        state.entries.remove(at: index)
        state.statistics.misses += 1
        return nil
      }
      state.useClock += 1
      state.entries.values[index].lastUse = state.useClock
      state.statistics.hits += 1
      return body(state.entries.values[index].value)
    }
  }

  /// Stores `value` unless an invalidation arrived since `ticket` was taken, or the cache is not
  /// listening for invalidations.
  func store(_ key: Key, _ value: Value, size: Int, ticket: Ticket, now: ContinuousClock.Instant = .now) {
    state.withLock { state in
      guard ticket.listening, state.listening, ticket.invalidationCount == state.invalidationCount, size <= budgetBytes else { return }
      state.useClock += 1
      if let old = state.entries[key] { state.bytes -= old.size }
      state.entries[key] = Entry(value: value, size: size, storedAt: now, lastUse: state.useClock)
      state.bytes += size
      if state.bytes > budgetBytes { Self.evict(&state, down: budgetBytes * 3 / 4) }
    }
  }

  /// Replaces `key`'s value by `transform` of it, if cached, keeping its age. Counts as an
  /// invalidation for fills under way (their reads may predate the change).
  func update(_ key: Key, _ transform: (Value) -> Value) {
    state.withLock { state in
      state.invalidationCount += 1
      guard var entry = state.entries[key] else { return }
      entry.value = transform(entry.value)
      state.entries[key] = entry
    }
  }

  /// Drops `key` (nil: everything).
  func invalidate(_ key: Key?) {
    state.withLock { state in
      state.invalidationCount += 1
      state.statistics.invalidations += 1
      if let key {
        if let old = state.entries.removeValue(forKey: key) { state.bytes -= old.size }
      } else {
        state.entries.removeAll()
        state.bytes = 0
      }
    }
  }

  /// Marks whether invalidations are being received; while not, nothing is stored, and turning
  /// it on or off empties the cache.
  func setListening(_ listening: Bool) {
    state.withLock { state in
      state.listening = listening
      state.invalidationCount += 1
      state.entries.removeAll()
      state.bytes = 0
    }
  }

  /// Whether invalidations are being received (and so values are stored).
  var isListening: Bool { state.withLock { $0.listening } }

  var statistics: Statistics {
    state.withLock { state in
      var statistics = state.statistics
      statistics.entries = state.entries.count
      statistics.bytes = state.bytes
      return statistics
    }
  }

  /// Evicts least recently used entries until at most `target` bytes remain.
  private static func evict(_ state: inout State, down target: Int) {
    let byAge = state.entries.sorted { $0.value.lastUse < $1.value.lastUse }
    for (key, entry) in byAge {
      guard state.bytes > target else { break }
      state.entries[key] = nil
      state.bytes -= entry.size
      state.statistics.evictions += 1
    }
  }
}
