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

  /// Takes lines in order, reporting each to `onConsumed`.
  struct AsyncIterator: AsyncIteratorProtocol {
    var inner: AsyncThrowingStream<String, any Error>.AsyncIterator
    let onConsumed: @Sendable () -> Void

    mutating func next() async throws -> String? {
      let line = try await inner.next(isolation: #isolation)
      if line != nil { onConsumed() }
      return line
    }
  }

  func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(inner: stream.makeAsyncIterator(), onConsumed: onConsumed)
  }
}
