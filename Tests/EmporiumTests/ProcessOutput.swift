import Foundation
import Synchronization
import Testing

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

  /// Waits until `match` finds something in the output; nil if the output ended first, or
  /// when nothing matched within `timeout` (recorded as an issue, with the output so far: a
  /// child that stops talking fails the test instead of hanging it).
  func waitFor<T>(within timeout: Duration = .seconds(60), _ match: (String) -> T?) async -> T? {
    let deadline = ContinuousClock.now + timeout
    let timer = Task { [self] in
      try? await Task.sleep(until: deadline)
      self.wakeWaiters()
    }
    defer { timer.cancel() }
    while true {
      let (text, ended) = self.state.withLock { ($0.text, $0.ended) }
      if let found = match(text) { return found }
      if ended { return nil }
      guard ContinuousClock.now < deadline else {
        Issue.record("the process's output did not show what was awaited within \(timeout); so far:\n\(text)")
        return nil
      }
      await withCheckedContinuation { continuation in
        let changed = self.state.withLock { state in
          guard state.text.utf8.count == text.utf8.count, !state.ended, ContinuousClock.now < deadline else { return true }
          state.waiters.append(continuation)
          return false
        }
        if changed { continuation.resume() }
      }
    }
  }

  /// Resumes every waiter, which looks at the output (and the time) again.
  private func wakeWaiters() {
    let waiters = self.state.withLock { state in
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// All the output, once the process closed its standard error (it exited); what there is
  /// after `timeout`, with an issue recorded.
  func untilEnd(within timeout: Duration = .seconds(60)) async -> String {
    _ = await self.waitFor(within: timeout) { _ -> Bool? in nil }
    return self.text
  }
}

extension Process {
  /// Runs `executable` with `arguments` to its end, standard error discarded, and returns its
  /// exit status and standard output; expects it to exit within `timeout` once its output ended.
  static func runToEnd(
    _ executable: URL, _ arguments: [String], within timeout: Duration = .seconds(60)
  ) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: await output.fileHandleForReading.readToEndOffThePool(), as: UTF8.self)
    #expect(await ServeCommandTests.waitForExit(process, within: timeout))
    return (process.terminationStatus, text)
  }

  /// Waits for the process to exit on a thread of its own. `waitUntilExit()` blocks its thread;
  /// on Swift's cooperative pool (two threads on two cores) that stalls every other test's
  /// tasks and timers beside it, which then miss their deadlines.
  func exited() async {
    nonisolated(unsafe) let process = self
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      DispatchQueue.global().async {
        process.waitUntilExit()
        continuation.resume()
      }
    }
  }
}

extension FileHandle {
  /// Everything until end of file, read on a thread of its own (see ``Process/exited()``).
  func readToEndOffThePool() async -> Data {
    nonisolated(unsafe) let handle = self
    return await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
      DispatchQueue.global().async { continuation.resume(returning: handle.readDataToEndOfFile()) }
    }
  }
}
