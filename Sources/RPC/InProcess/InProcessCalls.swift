import Synchronization

/// The in-process calls a server is running, so that a graceful shutdown treats them as it
/// treats a connection's: new calls are refused (UNAVAILABLE, marked refused) from
/// ``RPCServer/beginGracefulShutdown()`` on, running ones get the drain timeout, and what is
/// left then ends with UNAVAILABLE.
final class InProcessCalls: Sendable {
  private struct State {
    var draining = false
    var calls: [ObjectIdentifier: InProcessCall] = [:]
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  init() {}

  var isDraining: Bool { state.withLock { $0.draining } }

  /// Adds a call; false once the server is draining.
  func add(_ call: InProcessCall) -> Bool {
    state.withLock { state in
      guard !state.draining else { return false }
      state.calls[ObjectIdentifier(call)] = call
      return true
    }
  }

  /// Removes a call that ended.
  func remove(_ call: InProcessCall) {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      guard state.calls.removeValue(forKey: ObjectIdentifier(call)) != nil, state.calls.isEmpty else { return [] }
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Refuses new calls from now on.
  func beginDraining() {
    state.withLock { $0.draining = true }
  }

  /// Returns when no call is running.
  func waitUntilEmpty() async {
    await withCheckedContinuation { continuation in
      let empty = state.withLock { state -> Bool in
        if state.calls.isEmpty { return true }
        state.waiters.append(continuation)
        return false
      }
      if empty { continuation.resume() }
    }
  }

  /// Ends every running call with `error` and cancels its handler.
  func endAll(with error: RPCError) {
    let calls = state.withLock { Array($0.calls.values) }
    for call in calls { call.end(.failed(error), cancellingHandler: true) }
  }
}
