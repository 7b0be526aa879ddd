public import ServiceLifecycle
import Synchronization

/// Ends a service's long-running response streams (watch calls) when the server drains, so no
/// watcher holds the drain: each stream subscribes and ends with UNAVAILABLE ("resume
/// elsewhere") once its subscription finishes. ``drain()`` finishes every subscription, now and
/// for streams that start later; ``OnShutdown`` calls it when graceful shutdown begins.
public final class StreamDrain: Sendable {
  private struct State {
    var drained = false
    var next = 0
    var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
  }

  private let state = Mutex(State())

  public init() {}

  /// A sequence that finishes when the server drains (at once if it already does).
  public func subscribe() -> AsyncStream<Void> {
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
  public func drain() {
    let subscribers = state.withLock { state in
      state.drained = true
      defer { state.subscribers = [:] }
      return Array(state.subscribers.values)
    }
    for subscriber in subscribers { subscriber.finish() }
  }

  /// The background work that drains the streams when graceful shutdown begins.
  public struct OnShutdown: Service {
    public let drain: StreamDrain

    public init(drain: StreamDrain) {
      self.drain = drain
    }

    public func run() async throws {
      try? await gracefulShutdown()
      drain.drain()
    }
  }
}
