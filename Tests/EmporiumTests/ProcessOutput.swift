import Foundation
import Synchronization

/// What a child process writes to standard error, collected as it arrives, with a way to wait
/// for a line the process logs (no polling: woken by each chunk read).
final class ProcessOutput: Sendable {
  private struct State {
    var text = ""
    var ended = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())
  private let pipe = Pipe()

  /// Sends `process`'s standard error here; call before `run()`.
  func attach(to process: Process) {
    process.standardError = self.pipe
    self.pipe.fileHandleForReading.readabilityHandler = { [self] handle in
      let data = handle.availableData
      let waiters = self.state.withLock { state in
        if data.isEmpty {
          state.ended = true
          handle.readabilityHandler = nil
        } else {
          state.text += String(decoding: data, as: UTF8.self)
        }
        defer { state.waiters = [] }
        return state.waiters
      }
      for waiter in waiters { waiter.resume() }
    }
  }

  /// Everything read so far.
  var text: String { self.state.withLock { $0.text } }

  /// Waits until `match` finds something in the output; nil if the output ended first.
  func waitFor<T>(_ match: (String) -> T?) async -> T? {
    while true {
      let (text, ended) = self.state.withLock { ($0.text, $0.ended) }
      if let found = match(text) { return found }
      if ended { return nil }
      await withCheckedContinuation { continuation in
        let changed = self.state.withLock { state in
          guard state.text.utf8.count == text.utf8.count, !state.ended else { return true }
          state.waiters.append(continuation)
          return false
        }
        if changed { continuation.resume() }
      }
    }
  }

  /// All the output, once the process closed its standard error (it exited).
  func untilEnd() async -> String {
    _ = await self.waitFor { _ -> Bool? in nil }
    return self.text
  }
}
