import Messages
import NIOCore
import Synchronization

/// One call on a server connection: the bridge between the connection's event loop and the
/// task running the handler.
///
/// Mutable state is confined to `eventLoop`; the handler task reaches it through `send` and
/// `finish`, which run on the loop (directly when the task already runs there, which is the
/// default). Ending a call in any way (trailers sent, cancelled by the client, deadline, the
/// connection closing) happens once, in `end`, which wakes every waiter.
final class ServerCall: ServerCallStream, DeadlineTracked, @unchecked Sendable {
  // @unchecked: all `var`s are read and written on `eventLoop` only (asserted in debug builds);
  // `requests` is itself thread-safe and the `let`s are immutable.
  let id: UInt32
  let eventLoop: any EventLoop
  let requests = MessageQueue<InboundMessage>()
  private let connection: ServerConnectionHandler
  /// What the handler task runs (see ``runHandler()``). Kept here rather than captured, so the
  /// task's closure captures only the call and needs no context allocation of its own.
  private let core: ServerCore
  private let method: RPCRouter.Method
  private let context: ServerContext

  @exclusivity(unchecked) private var credit: OutboundCredit
  private var pending: (bytes: ByteBuffer, continuation: CheckedContinuation<Void, any Error>)?
  private var headersSent = false
  private(set) var ended = false
  var task: Task<Void, Never>?
  /// The call's deadline and its place in the connection's ``DeadlineHeap`` (-1: none).
  var deadline = NIODeadline.distantFuture
  var deadlineSlot = -1
  /// Whether the call waits for its request to run its method's immediate path
  /// (``awaitImmediateRequest(startedAt:)``): no task runs until then, and the call holds its handler
  /// slot and counts in flight.
  private var awaitsImmediateRequest = false
  /// When a call that waited for its request was counted as started (its handler, if it runs,
  /// does not count it again).
  private var startedAt: UInt64?
  /// The trailers of an immediate answer whose response waits for credit or writability: sent
  /// once the response has gone out.
  private var trailersAfterResponse: Trailers?
  /// The raw status code the call ended with, once `end` ran (read from the handler's task).
  private let endCode = Atomic<UInt8>(UInt8.max)

  init(
    id: UInt32, eventLoop: any EventLoop, connection: ServerConnectionHandler, initialCredit: UInt32, core: ServerCore,
    method: RPCRouter.Method, context: ServerContext
  ) {
    self.id = id
    self.eventLoop = eventLoop
    self.connection = connection
    self.credit = OutboundCredit(initial: initialCredit)
    self.core = core
    self.method = method
    self.context = context
  }

  /// The body of the handler's task: runs the method through the server's call pipeline, ends
  /// the call with the outcome and gives back the handler slot the connection took for it.
  func runHandler() async {
    defer { core.handlerSlots.release() }
    let io = ServerCallIO(source: MessageSource(call: self, limits: core.decodingLimits), sink: MessageSink(call: self))
    finish(await core.run(method, io: io, context: context, startedAt: startedAt))
  }

  // MARK: Immediate answers (on the event loop)

  /// The call's method has an immediate path: instead of starting a task now, wait for the
  /// request and try the path with it (``deliver(_:endStream:)``).
  /// `startedAt`: when the connection counted the call as started.
  func awaitImmediateRequest(startedAt: UInt64) {
    awaitsImmediateRequest = true
    self.startedAt = startedAt
  }

  /// A request message for the call: to the handler's stream, or, when the call waits for it,
  /// through the method's immediate path, which answers it or starts the handler's task with it.
  func deliver(_ message: InboundMessage, endStream: Bool) {
    guard awaitsImmediateRequest else {
      requests.yield(message)
      if endStream { requests.finish() }
      return
    }
    switch core.runImmediately(
      method, request: message.bytes, context: context, startedAt: startedAt ?? 0, scratch: &connection.responseScratch)
    {
    case .deferred: deferred(message, endStream: endStream)
    case .answered(let response, let trailers): answered(response, trailers, charge: message.charge)
    }
  }

  /// The method's immediate path left the request to the handler: its task starts with it.
  func deferred(_ message: InboundMessage, endStream: Bool) {
    awaitsImmediateRequest = false
    requests.yield(message)
    if endStream { requests.finish() }
    connection.startHandler(self)
  }

  /// The method's immediate path answered the request (`charge`: its credit to give back).
  func answered(_ response: ByteBuffer?, _ trailers: Trailers, charge: Int) {
    awaitsImmediateRequest = false
    core.handlerSlots.release()
    connection.messageConsumed(callID: id, charge: charge)
    guard let response else { return end(sending: trailers) }
    switch startSend(response) {
    case .done: end(sending: trailers)
    case .blocked: trailersAfterResponse = trailers
    case .failed: break  // the call has ended (with an error of its own, when the response was too large)
    }
  }

  /// The caller half-closed its side. A call waiting for its request got none: its handler's
  /// task runs and answers it as it answers any unary call without one.
  func deliverHalfClose() {
    requests.finish()
    guard awaitsImmediateRequest else { return }
    awaitsImmediateRequest = false
    connection.startHandler(self)
  }

  // MARK: From the handler task

  func nextRequest() async throws -> ByteBuffer? {
    guard let message = try await requests.next() else { return nil }
    messageConsumed(charge: message.charge)
    return message.bytes
  }

  /// Sends one response message, suspending while the caller has granted no credit for it or
  /// the connection's socket is not writable (a peer that does not read).
  func send(_ bytes: ByteBuffer) async throws {
    if eventLoop.inEventLoop {
      switch startSend(bytes) {
      case .done:
        // A handler on the event loop that writes in a loop must let the loop run its I/O.
        if connection.shouldYield() { await Task.yield() }
        return
      case .failed(let error): throw error
      case .blocked: break  // fall through to wait for credit
      }
      try await withCheckedThrowingContinuation { continuation in
        parkOrResume(continuation)
      }
      return
    }
    try await withCheckedThrowingContinuation { continuation in
      eventLoop.execute {
        switch self.startSend(bytes) {
        case .done: continuation.resume()
        case .failed(let error): continuation.resume(throwing: error)
        case .blocked: self.parkOrResume(continuation)
        }
      }
    }
  }

  func sendHeaders(_ metadata: Metadata) async throws {
    try await onLoop {
      guard !self.ended else { throw RPCError(code: .cancelled, message: "the call has ended") }
      guard !self.headersSent else { throw RPCError(code: .internal, message: "response headers were already sent") }
      self.headersSent = true
      self.connection.writeResponseHeaders(callID: self.id, metadata)
    }
  }

  /// Ends the call with trailers (from the handler's outcome).
  func finish(_ trailers: Trailers) {
    if eventLoop.inEventLoop {
      end(sending: trailers)
    } else {
      eventLoop.execute { self.end(sending: trailers) }
    }
  }

  /// The handler took a request message; returns its flow-control charge to the connection.
  func messageConsumed(charge: Int) {
    if eventLoop.inEventLoop {
      connection.messageConsumed(callID: id, charge: charge)
    } else {
      eventLoop.execute { self.connection.messageConsumed(callID: self.id, charge: charge) }
    }
  }

  private func onLoop(_ body: @escaping @Sendable () throws -> Void) async throws {
    if eventLoop.inEventLoop { return try body() }
    try await eventLoop.submit(body).get()
  }

  // MARK: On the event loop

  private enum SendResult { case done, blocked, failed(any Error) }

  private var bytesAwaitingCredit: ByteBuffer?

  private func startSend(_ bytes: ByteBuffer) -> SendResult {
    eventLoop.preconditionInEventLoop()
    guard !ended else { return .failed(RPCError(code: .cancelled, message: "the call has ended")) }
    guard pending == nil, bytesAwaitingCredit == nil else {
      return .failed(RPCError(code: .internal, message: "concurrent writes on one response stream"))
    }
    var bytes = bytes
    let limit = connection.peerMaxMessageSize
    guard bytes.readableBytes <= limit else {
      // The caller would have to cancel the call anyway; it gets a clear status instead.
      let error = RPCError.rpc(
        .resourceExhausted, .messageTooLarge,
        "response message of \(bytes.readableBytes) bytes exceeds the caller's limit of \(limit)",
        metadata: ["limitBytes": "\(limit)", "actualBytes": "\(bytes.readableBytes)"])
      end(sending: Trailers(error))
      return .failed(error)
    }
    guard connection.isWritable else {
      bytesAwaitingCredit = bytes
      connection.waitForWritability(self)
      return .blocked
    }
    if connection.writeMessage(callID: id, &bytes, credit: &credit) { return .done }
    bytesAwaitingCredit = bytes
    return .blocked
  }

  private func parkOrResume(_ continuation: CheckedContinuation<Void, any Error>) {
    eventLoop.preconditionInEventLoop()
    if ended {
      continuation.resume(throwing: RPCError(code: .cancelled, message: "the call has ended"))
    } else if let bytes = bytesAwaitingCredit {
      bytesAwaitingCredit = nil
      pending = (bytes, continuation)
    } else {
      continuation.resume()  // credit arrived in between
    }
  }

  /// A CREDIT frame for this call.
  func addCredit(_ increment: UInt32) -> Bool {
    guard credit.add(increment) else { return false }
    retryPendingSend()
    return true
  }

  /// The socket became writable again.
  func writabilityRestored() {
    retryPendingSend()
  }

  /// Continues a send that waited for credit or writability.
  private func retryPendingSend() {
    guard !ended, bytesAwaitingCredit != nil || pending != nil else { return }
    guard connection.isWritable else {
      connection.waitForWritability(self)
      return
    }
    if var bytes = bytesAwaitingCredit {
      if connection.writeMessage(callID: id, &bytes, credit: &credit) {
        bytesAwaitingCredit = nil
        if let trailers = trailersAfterResponse {
          trailersAfterResponse = nil
          end(sending: trailers)
        }
      } else {
        bytesAwaitingCredit = bytes
      }
    } else if var waiting = pending {
      if connection.writeMessage(callID: id, &waiting.bytes, credit: &credit) {
        pending = nil
        waiting.continuation.resume()
      } else {
        pending = waiting
      }
    }
  }

  var endedEarly: RPCStatusCode? {
    RPCStatusCode(rawValue: endCode.load(ordering: .relaxed))
  }

  /// Ends the call once. `trailers` nil: end silently (the client cancelled, with `code`, or the
  /// connection closed).
  func end(sending trailers: Trailers?, code: RPCStatusCode = .cancelled) {
    eventLoop.preconditionInEventLoop()
    guard !ended else { return }
    ended = true
    endCode.store((trailers?.code ?? code).rawValue, ordering: .relaxed)
    connection.deadlines.remove(self)
    if awaitsImmediateRequest {
      // No task will run for it: give back its slot and count it here.
      awaitsImmediateRequest = false
      core.handlerSlots.release()
      method.metrics?.finished(trailers?.code ?? code, startedAt: startedAt ?? 0)
    }
    if let trailers {
      connection.writeTrailers(callID: id, trailers)
    } else {
      task?.cancel()
    }
    // Only a handler's task reads the requests: a call that never started one (an immediate
    // answer) has no reader to wake. Otherwise the queue has usually ended already (the
    // request side half-closed); the error is made once, so ending a call allocates nothing.
    if task != nil { requests.finish(throwing: Self.callEnded) }
    if let waiting = pending {
      pending = nil
      waiting.continuation.resume(throwing: Self.callEnded)
    }
    bytesAwaitingCredit = nil
    trailersAfterResponse = nil
    connection.callEnded(self)
  }

  /// What reads and writes after the end of the call throw.
  private static let callEnded: any Error = RPCError(code: .cancelled, message: "the call has ended")

  /// The deadline passed: tell the caller and cancel the handler.
  func deadlineExceeded() {
    guard !ended else { return }
    task?.cancel()
    end(sending: Trailers(code: .deadlineExceeded, message: "deadline exceeded", details: [], metadata: [:], refused: false))
  }
}
