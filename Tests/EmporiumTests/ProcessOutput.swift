import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A pipe for a child process's output whose two ends are close-on-exec from the moment they
/// exist, so that no other child inherits them.
///
/// Foundation's `Pipe` makes inheritable descriptors, and `Process` closes a child's other
/// descriptors only up to the highest one open when it prepared the spawn. Tests run in
/// parallel: a pipe one test opened while another test was spawning (an `emporium serve`, a
/// PostgreSQL server) could leak into that child, which then held the pipe's write end for its
/// whole life. The reader never saw the end of the output although its own child had exited:
/// `ServeCommandTests.metricsPort` hung that way once in seven runs of its group.
struct ChildPipe {
  let reading: FileHandle
  let writing: FileHandle

  init() {
    // pipe2(O_CLOEXEC) marks both ends close-on-exec in the same call (pipe() then fcntl would
    // leave a moment for a spawn to inherit them). Glibc's module does not show it to Swift
    // (it needs _GNU_SOURCE), so it is looked up by name. A pipe, not a socket pair: a socket
    // charges each small write far more than its bytes, so a child logging line by line to a
    // reader that has not started yet blocked after a couple of hundred lines.
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    guard let symbol = dlsym(nil, "pipe2") else { preconditionFailure("pipe2 is missing from libc") }
    let pipe2 = unsafeBitCast(symbol, to: Pipe2.self)
    var descriptors: [Int32] = [-1, -1]
    precondition(pipe2(&descriptors, O_CLOEXEC) == 0, "pipe2 failed: errno \(errno)")
    self.reading = FileHandle(fileDescriptor: descriptors[0], closeOnDealloc: true)
    self.writing = FileHandle(fileDescriptor: descriptors[1], closeOnDealloc: true)
  }

  /// Runs `process` with its standard output (or error) going into the pipe, then closes this
  /// process's copy of the write end, so that the reader sees the end when the child exits.
  func run(_ process: Process, asStandardError: Bool) throws {
    if asStandardError { process.standardError = self.writing } else { process.standardOutput = self.writing }
    defer { try? self.writing.close() }
    try process.run()
  }
}

/// What a child process writes to standard error, collected as it arrives, with a way to wait
/// for a line the process logs (no polling: woken by each chunk read).
final class ProcessOutput: Sendable {
  private struct State {
    var text = ""
    var ended = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())
  private let pipe = ChildPipe()

  /// Runs `process` with its standard error collected here.
  func run(_ process: Process) throws {
    self.pipe.reading.readabilityHandler = { [self] handle in
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
    try self.pipe.run(process, asStandardError: true)
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
    let output = ChildPipe()
    process.standardError = FileHandle.nullDevice
    try output.run(process, asStandardError: false)
    let text = String(decoding: await output.reading.readToEndOffThePool(), as: UTF8.self)
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
