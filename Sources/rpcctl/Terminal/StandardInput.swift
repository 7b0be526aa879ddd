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
    let credit = DispatchSemaphore(value: window)
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

/// Lines of input (without their newline), in order. Iteration ends at the end of input, and
/// when the iterating task is cancelled.
struct InputLines: AsyncSequence, Sendable {
  typealias Element = String

  private let stream: AsyncThrowingStream<String, any Error>
  private let onConsumed: @Sendable () -> Void

  /// - Parameter onConsumed: called each time the consumer takes a line (flow control for the
  ///   producer).
  init(_ stream: AsyncThrowingStream<String, any Error>, onConsumed: @escaping @Sendable () -> Void = {}) {
    self.stream = stream
    self.onConsumed = onConsumed
  }

  /// Lines from memory.
  init(_ lines: [String]) {
    self.init(AsyncThrowingStream { continuation in
      for line in lines { continuation.yield(line) }
      continuation.finish()
    })
  }

  struct AsyncIterator: AsyncIteratorProtocol {
    var inner: AsyncThrowingStream<String, any Error>.AsyncIterator
    let onConsumed: @Sendable () -> Void

    mutating func next() async throws -> String? {
      let line = try await inner.next()
      if line != nil { onConsumed() }
      return line
    }
  }

  func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(inner: stream.makeAsyncIterator(), onConsumed: onConsumed)
  }
}
