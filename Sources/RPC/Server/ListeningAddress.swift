import NIOCore
import Synchronization

/// The address a listener is bound to, for callers that may ask before the bind has happened:
/// ``wait()`` returns it once ``resolve(_:)`` has run (or throws what the bind threw).
final class ListeningAddress: Sendable {
  private let state = Mutex<(result: Result<SocketAddress, any Error>?, waiters: [CheckedContinuation<SocketAddress, any Error>])>(
    (nil, []))

  init() {}

  func wait() async throws -> SocketAddress {
    try await withCheckedThrowingContinuation { continuation in
      let result = state.withLock { state -> Result<SocketAddress, any Error>? in
        if state.result == nil { state.waiters.append(continuation) }
        return state.result
      }
      if let result { continuation.resume(with: result) }
    }
  }

  /// Records how the bind went and answers everyone waiting; later calls change nothing.
  func resolve(_ result: Result<SocketAddress, any Error>) {
    let waiters = state.withLock { state -> [CheckedContinuation<SocketAddress, any Error>] in
      guard state.result == nil else { return [] }
      state.result = result
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(with: result) }
  }
}
