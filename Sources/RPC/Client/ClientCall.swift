import Messages
import NIOCore
import Synchronization

/// One call on a client connection, shared by the calling task and the connection's event
/// loop. Loop-side state is confined to the loop; the calling task reaches it by hopping there.
final class ClientCall: RawClientCall, DeadlineTracked, @unchecked Sendable {
  // @unchecked: `var`s are touched only on `eventLoop`; `responses`, `headers` and `trailing`
  // are thread-safe; `let`s are immutable.
  let eventLoop: any EventLoop
  let connection: ClientConnectionHandler
  let method: ProtoMethodDescriptor
  let decodingLimits: ProtoDecodingLimits
  let responses = MessageQueue<InboundMessage>()
  /// Response headers and whoever waits for them (most calls never ask: no promise is made).
  private let headers = Mutex<(value: Metadata?, waiters: [CheckedContinuation<Metadata, Never>])>((nil, []))
  private let trailing = Mutex(Metadata())

  var id: UInt32 = 0
  @exclusivity(unchecked) var credit = OutboundCredit(initial: 0)
  var ended = false
  /// Why the call ended, once it has: the server's error status or a local failure; nil when it
  /// ended OK. A request sent after the end (the server refused the call on its headers, before
  /// the request went out) fails with this, not with a bare CANCELLED that hides the reason.
  var endError: RPCError?
  /// The call's deadline and its place in the connection's ``DeadlineHeap`` (-1: none).
  var deadline = NIODeadline.distantFuture
  var deadlineSlot = -1
  private var headersDone = false
  /// Unary calls: the response, then whoever waits for it, answered at the trailers. Unchecked:
  /// it is answered only in `end`, which runs once, on the loop, and clears it first.
  var unaryResponse: ByteBuffer?
  var unaryWaiter: UnaryWaiter?
  /// A send waiting for credit (no continuation: the request of a unary call, to be followed
  /// by a half-close).
  var pending: (bytes: ByteBuffer, continuation: CheckedContinuation<Void, any Error>?)?

  init(connection: ClientConnectionHandler, method: ProtoMethodDescriptor, decodingLimits: ProtoDecodingLimits) {
    self.eventLoop = connection.eventLoop
    self.connection = connection
    self.method = method
    self.decodingLimits = decodingLimits
  }

  // MARK: RawClientCall (any thread)

  func send(_ message: ByteBuffer) async throws {
    try await withCheckedThrowingContinuation { continuation in
      eventLoop.execute { self.connection.send(self, message, continuation: continuation) }
    }
  }

  func closeSend() async throws {
    try await eventLoop.submit { try self.connection.closeSend(self) }.get()
  }

  func receive() async throws -> ByteBuffer? {
    guard let message = try await responses.next() else { return nil }
    let charge = message.charge
    eventLoop.execute { self.connection.messageConsumed(self, charge: charge) }
    return message.bytes
  }

  func responseHeaders() async throws -> Metadata {
    if let known = headers.withLock({ $0.value }) { return known }
    return await withCheckedContinuation { continuation in
      let known = headers.withLock { state -> Metadata? in
        if let value = state.value { return value }
        state.waiters.append(continuation)
        return nil
      }
      if let known { continuation.resume(returning: known) }
    }
  }

  var trailingMetadata: Metadata { trailing.withLock { $0 } }

  /// Cancels the call if it has not ended (any thread).
  func cancel(_ code: RPCStatusCode = .cancelled, message: String = "the call was cancelled") {
    eventLoop.execute { self.connection.cancel(self, code: code, message: message) }
  }

  // MARK: Event loop side

  func receivedHeaders(_ metadata: Metadata) {
    guard !headersDone else { return }
    headersDone = true
    let waiters = headers.withLock { state in
      state.value = metadata
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(returning: metadata) }
  }

  /// Ends the call with the server's trailers or a local error. Runs once.
  func end(_ outcome: Result<Trailers, RPCError>) {
    guard !ended else { return }
    ended = true
    connection.deadlines.remove(self)
    let error: RPCError?
    switch outcome {
    case .success(let trailers) where trailers.code == .ok:
      error = nil
    case .success(let trailers):
      error = RPCError(trailers)
    case .failure(let failure):
      error = failure
    }
    endError = error
    if let waiter = unaryWaiter {
      // A unary call's caller sees its answer only: no headers, trailers or message stream to
      // complete (and no locks to take for them).
      unaryWaiter = nil
      pending = nil
      if let error {
        waiter.answer(.failure(error))
      } else if let response = unaryResponse {
        unaryResponse = nil
        waiter.answer(.success(response))
      } else {
        waiter.answer(.failure(RPCError(code: .internal, message: "the server ended a unary call without a response")))
      }
      return
    }
    receivedHeaders([:])
    if case .success(let trailers) = outcome, trailers.code == .ok { trailing.withLock { $0 = trailers.metadata } }
    unaryResponse = nil
    responses.finish(throwing: error)
    if let waiting = pending {
      pending = nil
      waiting.continuation?.resume(throwing: error ?? RPCError(code: .cancelled, message: "the call has ended"))
    }
  }
}

/// Who waits for a unary call's answer: the calling task, or a callback on the connection's
/// event loop (``RPCConnection/startUnary(method:request:options:completion:)``).
enum UnaryWaiter {
  case task(UnsafeContinuation<ByteBuffer, any Error>)
  case callback((Result<ByteBuffer, RPCError>) -> Void)

  /// Answers once (the caller clears its reference first).
  func answer(_ result: Result<ByteBuffer, RPCError>) {
    switch self {
    case .task(let continuation): continuation.resume(with: result)
    case .callback(let completion): completion(result)
    }
  }
}
