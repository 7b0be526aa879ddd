import Messages
import NIOCore
import Synchronization

/// One in-process call: what the calling task and the handler's task share instead of a socket.
///
/// The handler's side is the call itself (a ``ServerCallStream``); the caller's side is
/// ``Caller`` (a ``RawClientCall``). Each direction is a ``Direction``: a queue bounded like a
/// connection's call window, so a writer whose reader does not read suspends. The call ends
/// once, in ``end(_:cancellingHandler:)`` — with the handler's outcome, the caller's
/// cancellation, the deadline, an oversized message or a forced shutdown — which wakes every
/// waiter with the errors a connection would give and, unless the handler itself ended it,
/// cancels the handler's task.
final class InProcessCall: ServerCallStream, Sendable {
  /// Limits of one transport, shared by its calls.
  struct Limits: Sendable {
    /// Request bytes a caller may write ahead of the handler's reads (the server's
    /// INITIAL_CALL_WINDOW).
    var requestWindow: Int
    /// The server's MAX_MESSAGE_SIZE.
    var maxRequestSize: Int
    /// Response bytes a handler may write ahead of the caller's reads.
    var responseWindow: Int
    /// The largest response the caller accepts.
    var maxResponseSize: Int
    /// How the caller decodes responses.
    var responseDecoding: ProtoDecodingLimits
  }

  /// How a call ended.
  enum Outcome: Sendable {
    /// OK, with trailing metadata.
    case ok(trailing: Metadata)
    /// Any other status, as the caller receives it.
    case failed(RPCError)
  }

  let id: UInt32
  let limits: Limits
  private let registry: InProcessCalls
  private let state: Mutex<State>

  fileprivate struct State {
    var requests: Direction
    var responses: Direction
    /// The response headers, once known: sent by the handler, or empty once a message or the
    /// end came first.
    var headers: Metadata?
    var headerWaiters: [CheckedContinuation<Metadata, Never>] = []
    var headersSent = false
    var outcome: Outcome?
    var handler: Task<Void, Never>?
    var deadlineTimer: Scheduled<Void>?
  }

  /// The error a read or write gets once the call has ended (as on a connection).
  static let ended = RPCError(code: .cancelled, message: "the call has ended")

  init(id: UInt32, limits: Limits, registry: InProcessCalls) {
    self.id = id
    self.limits = limits
    self.registry = registry
    self.state = Mutex(
      State(requests: Direction(window: limits.requestWindow), responses: Direction(window: limits.responseWindow)))
  }

  // MARK: Set-up

  /// Keeps the handler's task to cancel it when the call ends otherwise; cancels it at once if
  /// the call already ended.
  func setHandler(_ task: Task<Void, Never>) {
    let ended = state.withLock { state -> Bool in
      if state.outcome != nil { return true }
      state.handler = task
      return false
    }
    if ended { task.cancel() }
  }

  /// Keeps the deadline timer to cancel it when the call ends first.
  func setDeadlineTimer(_ timer: Scheduled<Void>) {
    let ended = state.withLock { state -> Bool in
      if state.outcome != nil { return true }
      state.deadlineTimer = timer
      return false
    }
    if ended { timer.cancel() }
  }

  var hasEnded: Bool { state.withLock { $0.outcome != nil } }

  // MARK: Ending

  /// Ends the call unless it already ended; returns whether this call ended it.
  @discardableResult
  func end(_ outcome: Outcome, cancellingHandler: Bool) -> Bool {
    struct Waiting {
      var requestReader: CheckedContinuation<ByteBuffer?, any Error>?
      var requestWriter: CheckedContinuation<Void, any Error>?
      var responseReader: CheckedContinuation<ByteBuffer?, any Error>?
      var responseWriter: CheckedContinuation<Void, any Error>?
      var headerWaiters: [CheckedContinuation<Metadata, Never>] = []
      var deadlineTimer: Scheduled<Void>?
      var handler: Task<Void, Never>?
    }
    let waiting = state.withLock { state -> Waiting? in
      guard state.outcome == nil else { return nil }
      state.outcome = outcome
      var waiting = Waiting(
        requestReader: state.requests.reader, requestWriter: state.requests.writer?.continuation,
        responseReader: state.responses.reader, responseWriter: state.responses.writer?.continuation,
        deadlineTimer: state.deadlineTimer, handler: cancellingHandler ? state.handler : nil)
      state.requests.reader = nil
      state.requests.writer = nil
      state.responses.reader = nil
      state.responses.writer = nil
      state.deadlineTimer = nil
      state.handler = nil
      if state.headers == nil {
        state.headers = [:]
        waiting.headerWaiters = state.takeHeaderWaiters()
      }
      return waiting
    }
    guard let waiting else { return false }
    waiting.deadlineTimer?.cancel()
    waiting.handler?.cancel()
    // A handler waiting for a request (none buffered, the stream not closed) learns the call
    // ended; so does one waiting to write.
    waiting.requestReader?.resume(throwing: Self.ended)
    waiting.responseWriter?.resume(throwing: Self.ended)
    switch outcome {
    case .ok:
      waiting.requestWriter?.resume(throwing: Self.ended)
      waiting.responseReader?.resume(returning: nil)
    case .failed(let error):
      waiting.requestWriter?.resume(throwing: error)
      waiting.responseReader?.resume(throwing: error)
    }
    for waiter in waiting.headerWaiters { waiter.resume(returning: [:]) }
    registry.remove(self)
    return true
  }

  /// The caller cancelled the call (its task, or its body returned before the end).
  func cancel() {
    end(.failed(RPCError(code: .cancelled, message: "the call was cancelled")), cancellingHandler: true)
  }

  /// The deadline passed: the caller gets DEADLINE_EXCEEDED and the handler is cancelled.
  func deadlineExceeded() {
    end(.failed(RPCError(code: .deadlineExceeded, message: "deadline exceeded")), cancellingHandler: true)
  }

  /// The handler's outcome (from ``ServerCore/run(_:io:context:)``).
  func finish(_ trailers: Trailers) {
    var trailers = trailers
    trailers.metadata = trailers.metadata.asSent(path: nil).metadata
    end(trailers.code == .ok ? .ok(trailing: trailers.metadata) : .failed(RPCError(trailers)), cancellingHandler: false)
  }

  // MARK: The handler's side (ServerCallStream)

  func nextRequest() async throws -> ByteBuffer? {
    try await read(.requests, cancelsCallOnTaskCancellation: false)
  }

  func send(_ bytes: ByteBuffer) async throws {
    let size = bytes.readableBytes
    if size > limits.maxResponseSize {
      // What a connection's client does with a response over its limit: fail the call and
      // cancel it on the server, whose handler then finds the call ended.
      end(
        .failed(
          .rpc(
            .resourceExhausted, .messageTooLarge,
            "response message of \(size)+ bytes exceeds the limit of \(limits.maxResponseSize)",
            metadata: ["limitBytes": "\(limits.maxResponseSize)", "actualBytes": "\(size)"])),
        cancellingHandler: true)
      throw Self.ended
    }
    try await write(bytes, .responses, cancelsCallOnTaskCancellation: false)
  }

  func sendHeaders(_ metadata: Metadata) async throws {
    let metadata = metadata.asSent(path: nil).metadata
    let waiters = try state.withLock { state -> [CheckedContinuation<Metadata, Never>] in
      guard state.outcome == nil else { throw Self.ended }
      guard !state.headersSent else { throw RPCError(code: .internal, message: "response headers were already sent") }
      state.headersSent = true
      // Headers sent after a message are not seen by the caller, as on a connection.
      guard state.headers == nil else { return [] }
      state.headers = metadata
      defer { state.headerWaiters = [] }
      return state.headerWaiters
    }
    for waiter in waiters { waiter.resume(returning: metadata) }
  }

  // MARK: The caller's side

  /// The caller's view of the call.
  struct Caller: RawClientCall {
    let call: InProcessCall

    func send(_ message: ByteBuffer) async throws { try await call.sendRequest(message) }
    func closeSend() async throws { call.closeRequests() }
    func receive() async throws -> ByteBuffer? { try await call.nextResponse() }
    func responseHeaders() async throws -> Metadata { await call.responseHeaders() }
    var trailingMetadata: Metadata { call.trailingMetadata }
    var decodingLimits: ProtoDecodingLimits { call.limits.responseDecoding }
  }

  var caller: Caller { Caller(call: self) }

  /// Queues a request; a request over the server's limit ends the call as a connection's server
  /// does (RESOURCE_EXHAUSTED, MESSAGE_TOO_LARGE) and throws that error.
  func sendRequest(_ bytes: ByteBuffer) async throws {
    try checkRequestSize(bytes)
    try await write(bytes, .requests, cancelsCallOnTaskCancellation: true)
  }

  /// The request of a unary call, before its handler starts: queued at once (the queue is
  /// empty); an error ends the call, and the caller reads it as the call's outcome.
  func sendUnaryRequest(_ bytes: ByteBuffer) {
    guard (try? checkRequestSize(bytes)) != nil else { return }
    let step = state.withLock { Self.tryWrite(bytes, .requests, &$0) }
    if case .delivered(let reader) = step { reader.resume(returning: bytes) }
    closeRequests()
  }

  private func checkRequestSize(_ bytes: ByteBuffer) throws {
    let size = bytes.readableBytes
    guard size > limits.maxRequestSize else { return }
    let error = RPCError.rpc(
      .resourceExhausted, .messageTooLarge,
      "request message of \(size)+ bytes exceeds the limit of \(limits.maxRequestSize)",
      metadata: ["limitBytes": "\(limits.maxRequestSize)", "actualBytes": "\(size)"]
    ).asReceived
    guard end(.failed(error), cancellingHandler: true) else { throw Self.ended }
    throw error
  }

  /// The caller half-closes (idempotent; nothing after the end).
  func closeRequests() {
    let reader = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
      guard state.outcome == nil, !state.requests.closed else { return nil }
      state.requests.closed = true
      defer { state.requests.reader = nil }
      return state.requests.reader
    }
    reader?.resume(returning: nil)
  }

  func nextResponse() async throws -> ByteBuffer? {
    try await read(.responses, cancelsCallOnTaskCancellation: true)
  }

  func responseHeaders() async -> Metadata {
    if let known = state.withLock({ $0.headers }) { return known }
    return await withCheckedContinuation { continuation in
      let known = state.withLock { state -> Metadata? in
        if let headers = state.headers { return headers }
        state.headerWaiters.append(continuation)
        return nil
      }
      if let known { continuation.resume(returning: known) }
    }
  }

  var trailingMetadata: Metadata {
    state.withLock { state in
      if case .ok(let trailing) = state.outcome { return trailing }
      return [:]
    }
  }

  // MARK: Both directions

  fileprivate enum Side { case requests, responses }

  private enum WriteStep {
    /// Queued.
    case queued
    /// Handed to a waiting reader (resume it outside the lock).
    case delivered(CheckedContinuation<ByteBuffer?, any Error>)
    /// The reader is one window behind: wait.
    case full
    case failed(RPCError)
  }

  private static func tryWrite(_ bytes: ByteBuffer, _ side: Side, _ state: inout State) -> WriteStep {
    guard state.outcome == nil else { return .failed(ended) }
    return state.withDirection(side) { direction in
      guard !direction.closed else {
        return .failed(RPCError(code: .internal, message: "a request was sent after the request stream was closed"))
      }
      guard direction.writer == nil else {
        let stream = side == .requests ? "request" : "response"
        return .failed(RPCError(code: .internal, message: "concurrent writes on one \(stream) stream"))
      }
      if let reader = direction.reader {
        direction.reader = nil
        return .delivered(reader)
      }
      guard direction.hasRoom(for: bytes.readableBytes) else { return .full }
      direction.push(bytes)
      return .queued
    }
  }

  private func write(_ bytes: ByteBuffer, _ side: Side, cancelsCallOnTaskCancellation: Bool) async throws {
    let (step, waiters) = state.withLock { state in
      var waiters: [CheckedContinuation<Metadata, Never>] = []
      if side == .responses, state.headers == nil, state.outcome == nil {
        // The first response: from here on the caller knows there are no response headers
        // (a first write never waits: the queue is empty).
        state.headers = [:]
        waiters = state.takeHeaderWaiters()
      }
      return (Self.tryWrite(bytes, side, &state), waiters)
    }
    for waiter in waiters { waiter.resume(returning: [:]) }
    switch step {
    case .queued: return
    case .delivered(let reader):
      reader.resume(returning: bytes)
      return
    case .failed(let error): throw error
    case .full: break
    }
    try await waitingForTheCall(cancelsCallOnTaskCancellation) {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let step = state.withLock { state -> WriteStep in
          let step = Self.tryWrite(bytes, side, &state)
          if case .full = step { state.withDirection(side) { $0.writer = (bytes, continuation) } }
          return step
        }
        switch step {
        case .queued: continuation.resume()
        case .delivered(let reader):
          reader.resume(returning: bytes)
          continuation.resume()
        case .failed(let error): continuation.resume(throwing: error)
        case .full: break  // resumed by a read or the end
        }
      }
    }
  }

  private enum ReadStep {
    case message(ByteBuffer, resumeWriter: CheckedContinuation<Void, any Error>?)
    case end(ByteBuffer?)
    case failed(RPCError)
    case empty
  }

  private static func tryRead(_ side: Side, _ state: inout State) -> ReadStep {
    let step = state.withDirection(side) { direction -> ReadStep in
      guard let message = direction.pop() else { return direction.closed ? .end(nil) : .empty }
      // Room again for a writer that waited: its message joins the queue and it carries on.
      if let waiting = direction.writer, direction.hasRoom(for: waiting.bytes.readableBytes) {
        direction.writer = nil
        direction.push(waiting.bytes)
        return .message(message, resumeWriter: waiting.continuation)
      }
      return .message(message, resumeWriter: nil)
    }
    guard case .empty = step, let outcome = state.outcome else { return step }
    switch (side, outcome) {
    case (.requests, _): return .failed(ended)
    case (.responses, .ok): return .end(nil)
    case (.responses, .failed(let error)): return .failed(error)
    }
  }

  private func read(_ side: Side, cancelsCallOnTaskCancellation: Bool) async throws -> ByteBuffer? {
    switch state.withLock({ Self.tryRead(side, &$0) }) {
    case .message(let message, let writer):
      writer?.resume()
      return message
    case .end(let message): return message
    case .failed(let error): throw error
    case .empty: break
    }
    return try await waitingForTheCall(cancelsCallOnTaskCancellation) {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
        let step = state.withLock { state -> ReadStep in
          let step = Self.tryRead(side, &state)
          if case .empty = step { state.withDirection(side) { $0.reader = continuation } }
          return step
        }
        switch step {
        case .message(let message, let writer):
          writer?.resume()
          continuation.resume(returning: message)
        case .end(let message): continuation.resume(returning: message)
        case .failed(let error): continuation.resume(throwing: error)
        case .empty: break  // resumed by a write, a half-close or the end
        }
      }
    }
  }

  /// Runs a wait that only the call resumes. On the caller's side, a cancelled waiting task
  /// cancels the call (so a bidirectional caller's request writer cannot outlive its reader);
  /// the handler's task is only ever cancelled by the end of the call, which resumes it.
  private func waitingForTheCall<T>(_ cancelsCall: Bool, _ wait: () async throws -> T) async throws -> T {
    guard cancelsCall else { return try await wait() }
    return try await withTaskCancellationHandler(operation: wait, onCancel: { self.cancel() })
  }
}

extension InProcessCall.State {
  fileprivate mutating func withDirection<R>(
    _ side: InProcessCall.Side, _ body: (inout InProcessCall.Direction) -> R
  ) -> R {
    switch side {
    case .requests: body(&requests)
    case .responses: body(&responses)
    }
  }

  fileprivate mutating func takeHeaderWaiters() -> [CheckedContinuation<Metadata, Never>] {
    defer { headerWaiters = [] }
    return headerWaiters
  }
}

extension InProcessCall {
  /// One direction of a call's messages: written, not yet read.
  ///
  /// Bounded like a connection's call window (docs/PROTOCOL.md §10): a message is queued only
  /// while the queue holds less than one window of bytes including it (and fewer than
  /// ``maxQueuedMessages``, so empty messages are bounded too); a message larger than the window
  /// waits until the queue is empty. The writer waits otherwise, and a read that makes room
  /// moves its message in and resumes it. So a reader that stops stops its writer after one
  /// window, and no more than one window or one message waits per direction.
  struct Direction {
    static let maxQueuedMessages = 1024

    let window: Int
    private var queue: [ByteBuffer?] = []
    private var head = 0
    private var queuedBytes = 0
    /// The writer sent its last message (requests only: responses end with the call).
    var closed = false
    /// A reader waiting for a message (only while the queue is empty).
    var reader: CheckedContinuation<ByteBuffer?, any Error>?
    /// A writer waiting for room (only while the queue is not empty).
    var writer: (bytes: ByteBuffer, continuation: CheckedContinuation<Void, any Error>)?

    init(window: Int) {
      self.window = window
    }

    var isEmpty: Bool { head == queue.count }

    func hasRoom(for size: Int) -> Bool {
      isEmpty || (queuedBytes + size <= window && queue.count - head < Self.maxQueuedMessages)
    }

    mutating func push(_ bytes: ByteBuffer) {
      queue.append(bytes)
      queuedBytes += bytes.readableBytes
    }

    mutating func pop() -> ByteBuffer? {
      guard head < queue.count, let message = queue[head] else { return nil }
      queue[head] = nil
      head += 1
      queuedBytes -= message.readableBytes
      if head == queue.count {
        queue.removeAll(keepingCapacity: true)
        head = 0
      } else if head >= 64, head * 2 >= queue.count {
        queue.removeFirst(head)
        head = 0
      }
      return message
    }
  }
}
