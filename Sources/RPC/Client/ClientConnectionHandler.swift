import Messages
import NIOCore

/// The NIO handler of one client connection: runs ``ClientConnectionStateMachine`` and owns
/// the connection's calls and compression streams. Confined to its event loop; calls reach
/// it by hopping onto the loop.
final class ClientConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  // @unchecked: all mutable state is confined to `eventLoop`.
  // @exclusivity(unchecked) on the hot properties below: they are only touched on the event
  // loop, by code that never holds an access across a call that could touch them again, so the
  // runtime's dynamic exclusivity bookkeeping (a measurable share of each call) is skipped.
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  let eventLoop: any EventLoop
  let configuration: RPCConnection.Configuration
  let ready: EventLoopPromise<Void>
  @exclusivity(unchecked) private var state: ClientConnectionStateMachine
  private var context: ChannelHandlerContext?
  private var preface: [UInt8] = []
  @exclusivity(unchecked) private var reader: FrameReader
  private var outbound = OutboundStream()
  @exclusivity(unchecked) private var batch = ByteBuffer()
  /// The mirror of the server's metadata table (docs/PROTOCOL.md §7.1), sized by its SETTINGS.
  @exclusivity(unchecked) private var metadataTable = MetadataTableEncoder()
  @exclusivity(unchecked) private var flushScheduled = false
  /// True while a read or a run of submitted calls is being handled: writes then wait for the
  /// flush at its end instead of scheduling one each.
  @exclusivity(unchecked) private var reading = false
  /// Unary calls started by tasks off the loop, waiting for the loop task that starts them all:
  /// no closure allocated per call, and the calls that arrive while the loop is busy leave in
  /// one write.
  private let submitted = LoopHandoff<SubmittedUnary>()
  @exclusivity(unchecked) private var calls: [UInt32: ClientCall] = [:]
  /// The open calls' deadlines, served by one timer (calls remove themselves as they end).
  var deadlines = DeadlineHeap<ClientCall>()
  private var pings: [UInt64: (sent: NIODeadline, promise: EventLoopPromise<Duration>)] = [:]
  private var nextPing: UInt64 = 1
  private var closedError: RPCError?
  /// Byte counts for ``RPCConnection/statistics()``.
  private(set) var statistics = ConnectionStatistics()
  private var handshakeTimer: Scheduled<Void>?
  /// The connection's metrics; bytes are added to them once per read batch and per flush.
  let metrics: ClientMetrics
  @exclusivity(unchecked) private var wireBytesReported = 0
  @exclusivity(unchecked) private var plainBytesReported = 0

  init(eventLoop: any EventLoop, configuration: RPCConnection.Configuration, metrics: ClientMetrics) {
    self.eventLoop = eventLoop
    self.configuration = configuration
    self.metrics = metrics
    self.ready = eventLoop.makePromise()
    self.state = ClientConnectionStateMachine(settings: configuration.settings)
    self.reader = FrameReader(role: .client, settings: configuration.settings)
  }

  /// Runs when the server sends GOAWAY (a pool stops sending new calls here).
  var onGoAway: (@Sendable () -> Void)?

  var negotiatedCompression: ConnectionSettings.Compression { state.compression }
  /// Which zstd contexts this connection holds; each is created on first use. On the loop.
  var zstdContexts: (compressor: Bool, decompressor: Bool) { (outbound.hasCompressor, reader.hasDecompressor) }
  var serverSettings: ConnectionSettings { state.peer }
  var acceptsNewCalls: Bool { closedError == nil && state.canOpenCalls }

  // MARK: Channel events

  /// Fails whatever is still open (a channel that never became active gets no
  /// `channelInactive`) and drops the context: it holds this handler, so keeping it would keep
  /// both alive after the connection closed.
  func handlerRemoved(context: ChannelHandlerContext) {
    fail(closedError ?? RPCError(code: .unavailable, message: "connection closed"))
    self.context = nil
  }

  func handlerAdded(context: ChannelHandlerContext) {
    // The write batch gets its storage from the first write, sized by what is written, and
    // keeps that capacity across flushes.
    self.context = context
    if context.channel.isActive { sendHandshake() }
  }

  func channelActive(context: ChannelHandlerContext) {
    sendHandshake()
    context.fireChannelActive()
  }

  private var handshakeSent = false

  private func sendHandshake() {
    guard !handshakeSent else { return }
    handshakeSent = true
    FrameEncoder.writePreface(into: &batch)
    FrameEncoder.writeSettings(configuration.settings, into: &batch)
    flush()
    handshakeTimer = eventLoop.scheduleTask(in: configuration.connectTimeout) { [self] in
      fail(RPCError(code: .unavailable, message: "the server did not complete the handshake in time"))
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    fail(closedError ?? RPCError(code: .unavailable, message: "connection closed"))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    fail(RPCError(code: .unavailable, message: "connection failed: \(error)"))
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    reading = true
    var bytes = unwrapInboundIn(data)
    statistics.wireBytesReceived += bytes.readableBytes
    do {
      if preface.count < Wire.prefaceLength {
        let wanted = Wire.prefaceLength - preface.count
        preface += bytes.readBytes(length: min(wanted, bytes.readableBytes)) ?? []
        guard preface.count == Wire.prefaceLength else { return }
        if let violation = state.receivedPreface(preface) {
          throw violation
        }
      }
      try reader.read(bytes, allocator: context.channel.allocator) { frame in
        try handle(state.receivedFrame(frame)) ? .switchToCompressed : .proceed
      }
      statistics.plainBytesReceived = reader.plainBytesRead
    } catch let violation as ProtocolViolation {
      closeWithError(violation)
    } catch {
      closeWithError(ProtocolViolation(.compressionError, "invalid compressed data: \(error)"))
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    reading = false
    reportBytesRead()
    flush()
    context.fireChannelReadComplete()
  }

  /// Adds what was read since the last report to the byte counters.
  private func reportBytesRead() {
    guard let bytes = metrics.bytes else { return }
    bytes.add(
      wireReceived: statistics.wireBytesReceived - wireBytesReported,
      plainReceived: statistics.plainBytesReceived - plainBytesReported)
    wireBytesReported = statistics.wireBytesReceived
    plainBytesReported = statistics.plainBytesReceived
  }

  // MARK: Actions

  /// Returns true when inbound decompression starts.
  private func handle(_ action: ClientConnectionStateMachine.Action) throws -> Bool {
    switch action {
    case .none:
      break
    case .handshakeComplete(let compression):
      handshakeTimer?.cancel()
      metadataTable.size = Int(state.peer.metadataTableSize)
      FrameEncoder.writeSettingsAck(into: &batch)
      flush()
      ready.succeed()
      if compression == .zstd {
        let windowLog = min(Int32(state.peer.zstdWindowLogMax), configuration.zstdWindowLog)
        try outbound.startCompressing(level: configuration.zstdLevel, windowLog: windowLog)
        return true  // the caller starts decompressing once the current plain chunk is done
      }
    case .deliverHeaders(let callID, let metadata):
      calls[callID]?.receivedHeaders(metadata)
    case .deliverMessage(let callID, let message, let charge):
      guard let call = calls[callID] else { break }
      if call.unaryWaiter != nil {
        call.unaryResponse = message
      } else {
        // Response HEADERS, if any, precede the first MESSAGE: from here on they are known.
        call.receivedHeaders([:])
        call.responses.yield(InboundMessage(bytes: message, charge: charge))
      }
    case .sendCredit(let callID, let increment):
      FrameEncoder.writeCredit(callID: callID, increment: increment, into: &batch)
      scheduleFlush()
    case .deliverTrailers(let callID, let trailers):
      if let call = calls.removeValue(forKey: callID) { call.end(.success(trailers)) }
      closeIfDrained()
    case .failCall(let callID, let error):
      if let call = calls.removeValue(forKey: callID) {
        FrameEncoder.writeCancel(callID: callID, code: .resourceExhausted, into: &batch)
        scheduleFlush()
        call.end(.failure(error))
      }
    case .addOutboundCredit(let callID, let increment):
      guard let call = calls[callID] else { break }
      guard call.credit.add(increment) else {
        closeWithError(ProtocolViolation(.flowControlError, "credit for call \(callID) overflows"))
        break
      }
      resumePendingSend(call)
    case .sendPingAck(let payload):
      FrameEncoder.writePing(ack: true, payload: payload, into: &batch)
      scheduleFlush()
    case .pingAcknowledged(let payload):
      if let ping = pings.removeValue(forKey: payload) {
        ping.promise.succeed(.nanoseconds((NIODeadline.now() - ping.sent).nanoseconds))
      }
    case .goAway(let lastCallID, let code, let debug):
      let error = RPCError(
        code: .unavailable, message: "the server is going away (\(ConnectionErrorCode(rawValue: code).map { "\($0)" } ?? "\(code)"): \(debug))",
        refused: true)
      ready.fail(error)
      onGoAway?()
      for (id, call) in calls where id > lastCallID {
        calls[id] = nil
        call.end(.failure(error))
      }
      closeIfDrained()
    case .closeWithError(let violation):
      closeWithError(violation)
    }
    return false
  }

  // MARK: Calls (on the event loop)

  /// Opens a call: allocates its id and writes HEADERS; fails the call if the connection
  /// cannot take it.
  /// `deadline` is computed by the calling task (it includes the task's inherited deadline,
  /// which the event loop cannot see).
  private func open(_ call: ClientCall, options: CallOptions, deadline: ContinuousClock.Instant?) -> Bool {
    if let closedError {
      // Never sent, so safe to retry elsewhere.
      call.end(.failure(RPCError(code: .unavailable, message: closedError.message, refused: true)))
      return false
    }
    guard let id = state.openCall() else {
      call.end(.failure(RPCError(code: .unavailable, message: "the connection is not accepting new calls", refused: true)))
      return false
    }
    call.id = id
    call.credit = OutboundCredit(initial: state.peer.initialCallWindow)
    calls[id] = call
    var timeout: UInt64?
    if let deadline {
      let remaining = ContinuousClock.now.duration(to: deadline)
      guard remaining > .zero else {
        calls[id] = nil
        state.callEnded(id)
        call.end(.failure(.rpc(.deadlineExceeded, .deadlineTooShort, "the deadline passed before the call started")))
        return false
      }
      let micros = remaining.wireTimeoutMicroseconds
      timeout = micros
      call.deadline = .now() + .microseconds(Int64(micros))
      deadlines.insert(call)
      armDeadlineTimer()
    }
    FrameEncoder.writeCallOpen(
      callID: id, path: call.method.path, timeoutMicroseconds: timeout, metadata: options.metadata, table: &metadataTable,
      headerLimit: HeaderLimits.payloadLimit(state.peer), into: &batch)
    return true
  }

  /// Arms the connection's deadline timer for the earliest call's deadline, if the armed one
  /// fires later (or none is armed).
  private func armDeadlineTimer() {
    guard let deadline = deadlines.timerNeeded else { return }
    let timer = eventLoop.scheduleTask(deadline: deadline) { [self] in
      for call in deadlines.fired(for: deadline, now: .now()) {
        cancel(call, code: .deadlineExceeded, message: "deadline exceeded")
      }
      armDeadlineTimer()
    }
    deadlines.armed(for: deadline, timer)
  }

  func startUnary(
    _ call: ClientCall, request: ByteBuffer, options: CallOptions, deadline: ContinuousClock.Instant?,
    waiter: UnaryWaiter
  ) {
    guard !call.ended else {
      // Cancelled before it started (the calling task was cancelled already, and the
      // cancellation reached the loop first): `end` ran without a waiter to answer.
      waiter.answer(.failure(RPCError(code: .cancelled, message: "the call was cancelled")))
      return
    }
    call.unaryWaiter = waiter
    if let error = oversizedRequest(request.readableBytes) {
      call.end(.failure(error))  // nothing was sent
      return
    }
    guard open(call, options: options, deadline: deadline) else { return }
    var request = request
    if request.readableBytes <= Int(state.peer.maxFrameSize), request.readableBytes <= call.credit.available {
      _ = call.credit.take(forMessageWith: request.readableBytes)
      FrameEncoder.writeMessage(callID: call.id, request, endStream: true, more: false, into: &batch)
      scheduleFlush()
      return
    }
    // Larger than one frame or the initial credit: the rest goes out as credit arrives, then
    // the half-close (a pending send without a continuation is a unary request).
    if writeMessage(call, &request) {
      FrameEncoder.writeHalfClose(callID: call.id, into: &batch)
    } else {
      call.pending = (request, nil)
    }
    scheduleFlush()
  }

  /// Starts a unary call from any thread: queued for the loop (see `submitted`).
  func submit(_ unary: SubmittedUnary) {
    if submitted.add(unary) { eventLoop.execute { self.startSubmitted() } }
  }

  /// Starts the calls submitted so far, oldest first, and writes them in one flush.
  private func startSubmitted() {
    let wasReading = reading
    reading = true
    submitted.takeAll { queued in
      for unary in queued {
        startUnary(
          unary.call, request: unary.request, options: unary.options, deadline: unary.deadline,
          waiter: .task(unary.continuation))
      }
    }
    reading = wasReading
    if !wasReading { flush() }
  }

  func startStreaming(_ call: ClientCall, options: CallOptions, deadline: ContinuousClock.Instant?) -> Bool {
    let opened = open(call, options: options, deadline: deadline)
    scheduleFlush()
    return opened
  }

  func send(_ call: ClientCall, _ message: ByteBuffer, continuation: CheckedContinuation<Void, any Error>) {
    guard !call.ended else {
      continuation.resume(throwing: call.endError ?? RPCError(code: .cancelled, message: "the call has ended"))
      return
    }
    guard call.pending == nil else {
      continuation.resume(throwing: RPCError(code: .internal, message: "concurrent writes on one request stream"))
      return
    }
    if let error = oversizedRequest(message.readableBytes) {
      cancel(call, code: error.code, error: error)
      continuation.resume(throwing: error)
      return
    }
    var message = message
    if writeMessage(call, &message) {
      continuation.resume()
    } else {
      call.pending = (message, continuation)
    }
    scheduleFlush()
  }

  private func resumePendingSend(_ call: ClientCall) {
    guard var waiting = call.pending else { return }
    if writeMessage(call, &waiting.bytes) {
      call.pending = nil
      if let continuation = waiting.continuation {
        continuation.resume()
      } else {
        FrameEncoder.writeHalfClose(callID: call.id, into: &batch)
      }
    } else {
      call.pending = waiting
    }
    scheduleFlush()
  }

  private func writeMessage(_ call: ClientCall, _ bytes: inout ByteBuffer) -> Bool {
    _ = FrameEncoder.writeMessageFrames(
      callID: call.id, &bytes, credit: &call.credit, maxFrameSize: Int(state.peer.maxFrameSize), into: &batch)
    return bytes.readableBytes == 0
  }

  func closeSend(_ call: ClientCall) throws {
    guard !call.ended else { return }
    FrameEncoder.writeHalfClose(callID: call.id, into: &batch)
    scheduleFlush()
  }

  func messageConsumed(_ call: ClientCall, charge: Int) {
    guard !call.ended, let increment = state.messageConsumed(callID: call.id, charge: charge) else { return }
    FrameEncoder.writeCredit(callID: call.id, increment: increment, into: &batch)
    scheduleFlush()
  }

  /// Cancels a call that has not ended: tells the server and fails the call locally.
  func cancel(_ call: ClientCall, code: RPCStatusCode, message: String) {
    cancel(call, code: code, error: RPCError(code: code, message: message))
  }

  /// Cancels a call that has not ended with `code` on the wire and `error` for the caller.
  private func cancel(_ call: ClientCall, code: RPCStatusCode, error: RPCError) {
    guard !call.ended else { return }
    if call.id != 0, calls.removeValue(forKey: call.id) != nil {
      state.callEnded(call.id)
      FrameEncoder.writeCancel(callID: call.id, code: code, into: &batch)
      scheduleFlush()
    }
    call.end(.failure(error))
    closeIfDrained()
  }

  /// The error for a request larger than the server's MAX_MESSAGE_SIZE, which is never sent
  /// (docs/PROTOCOL.md §4): the status the server would have given it.
  private func oversizedRequest(_ size: Int) -> RPCError? {
    let limit = Int(state.peer.maxMessageSize)
    guard size > limit else { return nil }
    return .rpc(
      .resourceExhausted, .messageTooLarge, "request message of \(size) bytes exceeds the server's limit of \(limit)",
      metadata: ["limitBytes": "\(limit)", "actualBytes": "\(size)"])
  }

  func ping() -> EventLoopFuture<Duration> {
    let promise = eventLoop.makePromise(of: Duration.self)
    if let closedError {
      promise.fail(closedError)
      return promise.futureResult
    }
    let payload = nextPing
    nextPing += 1
    pings[payload] = (.now(), promise)
    FrameEncoder.writePing(ack: false, payload: payload, into: &batch)
    flush()
    return promise.futureResult
  }

  // MARK: Writing

  private func scheduleFlush() {
    guard !reading, !flushScheduled else { return }
    flushScheduled = true
    eventLoop.execute { [self] in
      flushScheduled = false
      flush()
    }
  }

  private func flush() {
    guard let context, batch.readableBytes > 0, context.channel.isActive else { return }
    do {
      let plain = batch.readableBytes
      let bytes = try outbound.seal(batch, allocator: context.channel.allocator)
      statistics.plainBytesSent += plain
      statistics.wireBytesSent += bytes.readableBytes
      metrics.bytes?.add(wireSent: bytes.readableBytes, plainSent: plain)
      batch.moveReaderIndex(forwardBy: plain)
      context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    } catch {
      closeWithError(ProtocolViolation(.internalError, "compression failed: \(error)"))
    }
    // After the block, where `bytes` (the batch itself when nothing is compressed) has gone.
    batch.reuseAfterFlush()
  }

  // MARK: Closing

  private func closeIfDrained() {
    if case .goingAway = state.phase, calls.isEmpty { context?.close(promise: nil) }
  }

  private func closeWithError(_ violation: ProtocolViolation) {
    guard closedError == nil else { return }
    FrameEncoder.writeGoAway(lastCallID: 0, code: violation.code, debug: violation.message, into: &batch)
    flush()
    fail(RPCError(code: .unavailable, message: "connection closed: \(violation)"))
    context?.close(promise: nil)
  }

  /// Fails everything outstanding; the connection is unusable afterwards.
  private func fail(_ error: RPCError) {
    if closedError == nil { closedError = error }
    handshakeTimer?.cancel()
    deadlines.disarm()
    ready.fail(error)
    let open = calls
    calls.removeAll()
    for call in open.values { call.end(.failure(error)) }
    for ping in pings.values { ping.promise.fail(error) }
    pings.removeAll()
  }

  /// Closes the connection (any thread).
  func close() {
    eventLoop.execute { [self] in
      fail(RPCError(code: .unavailable, message: "connection closed by the client"))
      context?.close(promise: nil)
    }
  }
}

/// A unary call a task started off the connection's event loop, until the loop starts it.
struct SubmittedUnary {
  let call: ClientCall
  let request: ByteBuffer
  let options: CallOptions
  let deadline: ContinuousClock.Instant?
  let continuation: UnsafeContinuation<ByteBuffer, any Error>
}
