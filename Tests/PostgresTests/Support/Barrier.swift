import Synchronization

/// Lets `parties` tasks wait until all of them have arrived.
final class Barrier: Sendable {
  private struct State {
    var arrived = 0
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let parties: Int
  private let state = Mutex(State())

  init(parties: Int) {
    self.parties = parties
  }

  func arrive() async {
    await withCheckedContinuation { continuation in
      let release = self.state.withLock { state -> [CheckedContinuation<Void, Never>]? in
        state.arrived += 1
        state.waiters.append(continuation)
        guard state.arrived >= self.parties else { return nil }
        defer { state.waiters = [] }
        return state.waiters
      }
      for waiter in release ?? [] {
        waiter.resume()
      }
    }
  }
}
