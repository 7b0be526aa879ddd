import Synchronization

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
