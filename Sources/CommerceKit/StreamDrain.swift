public import ServiceLifecycle
import Synchronization

/// Ends a service's long-lived response streams when the server drains, so that no stream holds
/// the drain for its whole timeout (the contracts say: UNAVAILABLE, resume elsewhere). Each
/// stream subscribes; ``drain()`` finishes every subscription, now and for streams that start
/// later. Host ``OnShutdown`` as background work to drain when graceful shutdown begins.
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
    let drain: StreamDrain

    public init(_ drain: StreamDrain) {
      self.drain = drain
    }

    public func run() async throws {
      try? await gracefulShutdown()
      drain.drain()
    }
  }
}
