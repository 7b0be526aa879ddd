import NIOCore
import Synchronization

/// A single-consumer queue between an event loop (producer) and a task (consumer): the
/// messages of one direction of one call.
///
/// The queue itself is unbounded, but flow control bounds it: a peer can only send one call
/// window of bytes ahead of what the consumer has taken (`next()` reports each taken element
/// through `onConsumed`, which grants the peer more credit).
///
/// A `~Copyable` struct so a call object can hold it inline (no allocation of its own); the
/// first element waiting in an empty queue is kept inline too, so a queue that never holds
/// more than one message at a time (a unary request or response) allocates nothing.
/// ``AsyncMessageQueue`` wraps it where a queue must be shared by reference.
struct MessageQueue<Element: Sendable>: ~Copyable, Sendable {
  private let state = Mutex(MessageQueueState<Element>())

  init() {}

  /// Adds an element (event loop side).
  func yield(_ element: Element) {
    let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
      guard state.end == nil else { return nil }
      if let waiter = state.waiter {
        state.waiter = nil
        return waiter
      }
      state.append(element)
      return nil
    }
    waiter?.resume(returning: element)
  }

  /// Ends the queue: the consumer gets the buffered elements, then nil (or the error).
  func finish(throwing error: (any Error)? = nil) {
    let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
      guard state.end == nil else { return nil }
      state.end = error.map { .failure($0) } ?? .success(())
      let waiter = state.waiter
      state.waiter = nil
      return waiter
    }
    if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
  }

  /// The next element, nil at the end; throws the error the queue was finished with.
  /// Cancelling the waiting task does not end the wait by itself: the call's owner finishes
  /// the queue when the call is cancelled.
  func next() async throws -> Element? {
    if let ready = try takeBuffered() { return ready.element }
    return try await withCheckedThrowingContinuation { continuation in
      let immediate: Result<Element?, any Error>? = state.withLock { state in
        if let element = state.takeFirst() { return .success(element) }
        if let end = state.end {
          switch end {
          case .success: return .success(nil)
          case .failure(let error): return .failure(error)
          }
        }
        state.waiter = continuation
        return nil
      }
      if let immediate { continuation.resume(with: immediate) }
    }
  }

  private func takeBuffered() throws -> (element: Element?, Void)? {
    try state.withLock { state -> (element: Element?, Void)? in
      if let element = state.takeFirst() { return (element, ()) }
      if let end = state.end {
        switch end {
        case .success: return (nil, ())
        case .failure(let error): throw error
        }
      }
      return nil
    }
  }
}

/// What a ``MessageQueue`` holds, under its lock. (A top-level type: nested in the generic
/// `~Copyable` queue, the compiler cannot emit it.)
struct MessageQueueState<Element: Sendable> {
  /// The oldest waiting element when it arrived in an empty queue; later ones go to `buffer`.
  var first: Element?
  var buffer: [Element] = []
  var head = 0
  var waiter: CheckedContinuation<Element?, any Error>?
  var end: Result<Void, any Error>?

  var isEmpty: Bool { first == nil && head == buffer.count }

  mutating func append(_ element: Element) {
    if isEmpty { first = element } else { buffer.append(element) }
  }

  /// Removes the oldest element, if any.
  mutating func takeFirst() -> Element? {
    if let element = first {
      first = nil
      return element
    }
    guard head < buffer.count else { return nil }
    let element = buffer[head]
    head += 1
    if head == buffer.count {
      buffer.removeAll(keepingCapacity: true)
      head = 0
    }
    return element
  }
}

/// A ``MessageQueue`` shared by reference (a queue kept in a collection while its consumer
/// waits on it elsewhere).
final class AsyncMessageQueue<Element: Sendable>: Sendable {
  private let queue = MessageQueue<Element>()

  init() {}

  /// See ``MessageQueue/yield(_:)``.
  func yield(_ element: Element) { queue.yield(element) }

  /// See ``MessageQueue/finish(throwing:)``.
  func finish(throwing error: (any Error)? = nil) { queue.finish(throwing: error) }

  /// See ``MessageQueue/next()``.
  func next() async throws -> Element? { try await queue.next() }
}

/// A received message and the flow-control credit consuming it returns.
struct InboundMessage: Sendable {
  var bytes: ByteBuffer
  var charge: Int
}
