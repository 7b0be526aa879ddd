import NIOCore
import Synchronization

/// A single-consumer queue between an event loop (producer) and a task (consumer): the
/// messages of one direction of one streaming call.
///
/// The queue itself is unbounded, but flow control bounds it: a peer can only send one call
/// window of bytes ahead of what the consumer has taken (`next()` reports each taken element
/// through `onConsumed`, which grants the peer more credit).
final class AsyncMessageQueue<Element: Sendable>: Sendable {
  private struct State {
    var buffer: [Element] = []
    var head = 0
    var waiter: CheckedContinuation<Element?, any Error>?
    var end: Result<Void, any Error>?
  }

  private let state = Mutex(State())

  init() {}

  /// Adds an element (event loop side).
  func yield(_ element: Element) {
    let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
      guard state.end == nil else { return nil }
      if let waiter = state.waiter {
        state.waiter = nil
        return waiter
      }
      state.buffer.append(element)
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
        if state.head < state.buffer.count {
          let element = state.buffer[state.head]
          state.head += 1
          return .success(element)
        }
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
      if state.head < state.buffer.count {
        let element = state.buffer[state.head]
        state.head += 1
        if state.head == state.buffer.count {
          state.buffer.removeAll(keepingCapacity: true)
          state.head = 0
        }
        return (element, ())
      }
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

/// A received message and the flow-control credit consuming it returns.
struct InboundMessage: Sendable {
  var bytes: ByteBuffer
  var charge: Int
}
