import Synchronization

/// Serialises the changes this process makes to one cart, before they reach the database.
///
/// The cart's row lock (`SELECT ... FOR UPDATE`) is what makes concurrent changes correct, across
/// processes too. The gate adds two things within a process: callers waiting for a busy cart
/// wait here, holding no database connection (twenty concurrent adds to one cart would
/// otherwise hold twenty of the pool's connections while one works), and the catalog data a
/// change reads before its transaction is not made stale by another change of the same cart
/// from this process.
///
/// Waiters are served first come, first served. Cancelling a waiting task removes it from the
/// queue and throws `CancellationError`; the holder is never interrupted.
final class CartGate: Sendable {
  private struct Waiter {
    var id: UInt64
    var continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    /// The keys held, each with its queue of waiters.
    var held: [String: [Waiter]] = [:]
    var nextID: UInt64 = 0
  }

  private let state = Mutex(State())

  /// Runs `body` while no other caller of this gate holds `key`.
  func withLock<Result>(_ key: String, _ body: () async throws -> Result) async throws -> Result {
    try await acquire(key)
    defer { release(key) }
    return try await body()
  }

  /// Runs `body` holding both keys, taken in the order given (callers that take two keys must
  /// all take them in the same order).
  func withLocks<Result>(_ first: String, _ second: String, _ body: () async throws -> Result) async throws -> Result {
    try await withLock(first) { try await withLock(second, body) }
  }

  /// The number of keys held (for tests).
  var heldCount: Int { state.withLock { $0.held.count } }

  private func acquire(_ key: String) async throws {
    let id = state.withLock { state in
      state.nextID += 1
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let acquired: Bool? = state.withLock { state in
          if Task.isCancelled { return nil }
          guard state.held[key] != nil else {
            state.held[key] = []
            return true
          }
          state.held[key]!.append(Waiter(id: id, continuation: continuation))
          return false
        }
        switch acquired {
        case nil: continuation.resume(throwing: CancellationError())
        case true?: continuation.resume()
        case false?: break
        }
      }
    } onCancel: {
      let waiter = state.withLock { state -> Waiter? in
        guard let index = state.held[key]?.firstIndex(where: { $0.id == id }) else { return nil }
        return state.held[key]!.remove(at: index)
      }
      waiter?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Hands the key to the first waiter, or frees it.
  private func release(_ key: String) {
    let next = state.withLock { state -> Waiter? in
      guard var queue = state.held[key], !queue.isEmpty else {
        state.held[key] = nil
        return nil
      }
      let first = queue.removeFirst()
      state.held[key] = queue
      return first
    }
    next?.continuation.resume()
  }
}
