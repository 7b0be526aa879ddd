import CommerceKit
import Messages
import RPC
import Synchronization

/// Writes a response stream's messages, failing a write that waits longer than `limit` for the
/// caller's flow-control credit (a subscriber that stopped reading): the write then throws
/// RESOURCE_EXHAUSTED, and the handler that ends the call with it also releases the parked
/// message. ``failIfStalled()`` checks; the stream's handler calls it periodically.
///
/// The runtime's write parks until credit arrives and does not return on task cancellation
/// (only the end of the call resumes it), so each write runs in a task of its own and the
/// handler waits on a continuation that the write, the stall check or cancellation resumes.
final class BoundedStreamWriter<Message: ProtoMessage>: Sendable {
  private struct Pending {
    var number: Int
    var continuation: CheckedContinuation<Void, any Error>
    var deadline: ContinuousClock.Instant
  }

  private struct State {
    var next = 0
    var pending: Pending?
    var cancelled = false
  }

  private let response: ResponseStreamWriter<Message>
  private let limit: Duration
  private let state = Mutex(State())

  init(_ response: ResponseStreamWriter<Message>, limit: Duration) {
    self.response = response
    self.limit = limit
  }

  /// Sends one message; RESOURCE_EXHAUSTED when it waited `limit` for credit, CancellationError
  /// when the calling task is cancelled.
  func write(_ message: Message) async throws {
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let number: Int? = state.withLock { state in
          guard !state.cancelled else { return nil }
          state.next += 1
          state.pending = Pending(number: state.next, continuation: continuation, deadline: .now + limit)
          return state.next
        }
        guard let number else {
          continuation.resume(throwing: CancellationError())
          return
        }
        let response = response
        Task {
          do {
            try await response.write(message)
            self.finish(number, with: .success(()))
          } catch {
            self.finish(number, with: .failure(error))
          }
        }
      }
    } onCancel: {
      let pending = state.withLock { state in
        state.cancelled = true
        defer { state.pending = nil }
        return state.pending
      }
      pending?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Fails the waiting write with RESOURCE_EXHAUSTED if it has waited past its limit.
  func failIfStalled() {
    let now = ContinuousClock.now
    let stalled = state.withLock { state -> Pending? in
      guard let pending = state.pending, pending.deadline <= now else { return nil }
      state.pending = nil
      return pending
    }
    stalled?.continuation.resume(throwing: Self.stalled(limit))
  }

  private func finish(_ number: Int, with result: Result<Void, any Error>) {
    let pending = state.withLock { state -> Pending? in
      guard let pending = state.pending, pending.number == number else { return nil }
      state.pending = nil
      return pending
    }
    pending?.continuation.resume(with: result)
  }

  static func stalled(_ limit: Duration) -> CommerceError {
    CommerceError(
      .resourceExhausted, nil, "the subscriber read nothing for \(limit); the stream is dropped, resubscribe with the last sequence seen",
      metadata: ["stalledWriteLimit": "\(limit)"]
    ).quota(subject: "stream", id: "stalled-write-limit", limit: 1, window: limit, "a message waited too long for flow-control credit")
  }
}
