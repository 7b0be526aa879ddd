import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, its stdout read line by line through a pipe
/// (with timeouts), optionally its stdin written through another, and its stderr appended to a
/// log file. The orchestrator ends only the processes it started, by pid.
final class ChildProcess {
  let pid: pid_t
  let name: String
  private let output: Int32
  private var input: Int32?
  private var pending: [UInt8] = []
  private var exited = false

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Starts `arguments[0]` with `arguments` and the current environment plus `environment`.
  init(
    name: String, arguments: [String], environment: [String: String] = [:], stderrPath: String,
    withInput: Bool = false
  ) throws {
    self.name = name
    var outputPipe: [Int32] = [0, 0]
    var inputPipe: [Int32] = [-1, -1]
    // Close-on-exec, so that no other child inherits them (posix_spawn's dup2 clears it on 0 and 1).
    func makePipe(_ ends: inout [Int32]) throws {
      guard pipe(&ends) == 0 else { throw Failure(description: "pipe: \(errno)") }
      for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    }
    try makePipe(&outputPipe)
    if withInput { try makePipe(&inputPipe) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if withInput {
      posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)

    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
    close(outputPipe[1])
    if withInput { close(inputPipe[0]) }
    guard result == 0 else {
      close(outputPipe[0])
      if withInput { close(inputPipe[1]) }
      throw Failure(description: "posix_spawn \(arguments[0]): \(String(cString: strerror(result)))")
    }
    self.pid = pid
    self.output = outputPipe[0]
    self.input = withInput ? inputPipe[1] : nil
  }

  deinit {
    close(output)
    if let input { close(input) }
  }

  /// The next line of stdout, or nil at end of file or after `timeout` seconds.
  func readLine(timeout: Double) -> String? {
    let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
    while true {
      if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
        let line = String(decoding: pending[..<newline], as: UTF8.self)
        pending.removeSubrange(...newline)
        return line
      }
      let now = monotonicNanoseconds()
      guard now < deadline else { return nil }
      var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, Int32(min(1_000, (deadline - now) / 1_000_000 + 1)))
      if ready < 0 && errno != EINTR { return nil }
      guard ready > 0 else { continue }
      var chunk = [UInt8](repeating: 0, count: 4096)
      let count = read(output, &chunk, chunk.count)
      if count <= 0 { return nil }
      pending += chunk[..<count]
    }
  }

  /// Reads lines until one equals `expected`; throws after `timeout` or at end of file.
  func expect(_ expected: String, timeout: Double) throws {
    let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
    while monotonicNanoseconds() < deadline {
      guard let line = readLine(timeout: Double(deadline - min(deadline, monotonicNanoseconds())) / 1e9) else { break }
      if line.hasPrefix(expected) { return }
    }
    throw Failure(description: "\(name) (pid \(pid)) did not print \(expected) in \(timeout) s")
  }

  /// Writes `line` and a newline to stdin.
  func writeLine(_ line: String) {
    guard let input else { return }
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
  }

  /// Waits for the process to exit; nil if it still runs after `timeout` seconds.
  @discardableResult
  func waitForExit(timeout: Double) -> Int32? {
    let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
    while true {
      var status: Int32 = 0
      let result = waitpid(pid, &status, WNOHANG)
      if result == pid {
        exited = true
        return status
      }
      if result < 0 {
        exited = true
        return -1
      }
      if monotonicNanoseconds() >= deadline { return nil }
      usleep(10_000)
    }
  }

  /// SIGTERM, then SIGKILL if it has not exited after 5 s; reaps it.
  func terminate() {
    guard !exited else { return }
    kill(pid, SIGTERM)
    if waitForExit(timeout: 5) == nil {
      kill(pid, SIGKILL)
      waitForExit(timeout: 5)
    }
  }
}
