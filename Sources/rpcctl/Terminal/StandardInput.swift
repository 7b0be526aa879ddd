import Foundation

/// Standard input as ``InputLines``.
///
/// A dedicated thread does the blocking reads, so neither an event loop nor Swift's cooperative
/// pool ever waits on the terminal or a pipe. The thread stays at most ``window`` lines ahead of
/// the consumer. A consumer that stops early leaves the thread blocked in its current read
/// until input arrives or the process exits, which is harmless for a command-line tool.
enum StandardInput {
  /// How many lines the reader thread may read ahead of the consumer.
  static let window = 16

  static func lines() -> InputLines {
    let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream()
    // Created at 0 and raised to the window: libdispatch traps when a semaphore is released
    // with a value below the one it was created with, which a reader ahead of its consumer
    // leaves behind.
    let credit = DispatchSemaphore(value: 0)
    for _ in 0..<window { credit.signal() }
    let thread = Thread {
      while true {
        credit.wait()
        guard let line = readLine(strippingNewline: true) else {
          continuation.finish()
          return
        }
        if case .terminated = continuation.yield(line) { return }
      }
    }
    thread.name = "rpcctl-stdin"
    thread.start()
    return InputLines(stream) { credit.signal() }
  }
}
