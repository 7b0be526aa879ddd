import ServiceLifecycle
import Synchronization

/// Ends WatchOrder streams when the server drains, so no watcher holds the drain (the contract:
/// UNAVAILABLE, resume elsewhere). Each stream subscribes; ``drain()`` finishes every
/// subscription, now and for streams that start later.
final class WatchDrain: Sendable {
  private struct State {
    var drained = false
    var next = 0
    var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
  }

  private let state = Mutex(State())

  /// A sequence that finishes when the server drains (at once if it already does).
  func subscribe() -> AsyncStream<Void> {
    let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    let id = state.withLock { state -> Int? in
      guard !state.drained else { return nil }
      state.next += 1
      state.subscribers[state.next] = continuation
      return state.next
    }
    guard let id else {
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) } }
    return stream
  }

  /// Finishes every subscription.
  func drain() {
    let subscribers = state.withLock { state in
      state.drained = true
      defer { state.subscribers = [:] }
      return Array(state.subscribers.values)
    }
    for subscriber in subscribers { subscriber.finish() }
  }

  /// The background work that drains the streams when graceful shutdown begins.
  struct OnShutdown: Service {
    let drain: WatchDrain

    func run() async throws {
      try? await gracefulShutdown()
      drain.drain()
    }
  }
}
