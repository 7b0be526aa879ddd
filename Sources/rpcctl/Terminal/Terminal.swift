import Foundation
import Synchronization

/// Where a command reads its input and writes its results: the process's standard streams
/// when run as `rpcctl`, buffers in tests.
struct Terminal: Sendable {
  /// Standard input as lines (without their newline), read only when a command asks for it.
  /// Iteration ends at end of input; cancelling the iterating task ends it too.
  var inputLines: @Sendable () -> InputLines
  /// Standard output: results (JSON lines, listings).
  var output: any TextOutput
  /// Standard error: the failure summary and verbose diagnostics.
  var errors: any TextOutput
  /// Environment variables (for `EMPORIUM_ADDR`).
  var environment: [String: String]

  /// The process's standard streams and environment.
  static var standard: Terminal {
    Terminal(
      inputLines: { StandardInput.lines() }, output: FileOutput(.standardOutput), errors: FileOutput(.standardError),
      environment: ProcessInfo.processInfo.environment)
  }
}

/// A sink for text. Each `write` is written whole, so lines from concurrent tasks do not mix.
protocol TextOutput: Sendable {
  func write(_ text: String)
}

/// Writes to a file handle (standard output or error), unbuffered, one write per call.
struct FileOutput: TextOutput {
  private let handle: FileHandle
  private let lock = Mutex(())

  init(_ handle: FileHandle) {
    self.handle = handle
  }

  func write(_ text: String) {
    lock.withLock { _ in handle.write(Data(text.utf8)) }
  }
}

/// Collects text in memory (tests, and output that is assembled before it is printed).
final class BufferedOutput: TextOutput {
  private let buffer = Mutex("")

  init() {}

  func write(_ text: String) {
    buffer.withLock { $0 += text }
  }

  /// Everything written so far.
  var text: String { buffer.withLock { $0 } }

  /// The lines written so far, without the empty one after the final newline.
  var lines: [String] {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
  }
}
