import CoreMetrics
import Logging
import Messages
import NIOCore

/// The NIO handler of one server connection. It owns the connection's
/// ``ServerConnectionStateMachine``, its compression streams and its calls, turns bytes into
/// frames and frames into actions, and batches everything it writes until the end of the
/// event-loop tick (one compressed flush per batch).
///
/// Everything here runs on the channel's event loop.
final class ServerConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  // @unchecked: confined to `eventLoop`; other threads only call `beginDraining` and
  // `forceClose`, which hop onto the loop first.
  // @exclusivity(unchecked) on the hot properties below: they are only touched on the event
  // loop, by code that never holds an access across a call that could touch them again, so the
  // runtime's dynamic exclusivity bookkeeping (a measurable share of each call) is skipped.
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  let core: ServerCore
  let eventLoop: any EventLoop
  private let executor: (any TaskExecutor)?
  @exclusivity(unchecked) private var state: ServerConnectionStateMachine
  private var context: ChannelHandlerContext?
  private var preface: [UInt8] = []
  @exclusivity(unchecked) private var reader: FrameReader
  private var outbound = OutboundStream()
  @exclusivity(unchecked) private var batch: ByteBuffer
  @exclusivity(unchecked) private var flushScheduled = false
  @exclusivity(unchecked) private var reading = false
  /// Received bytes wait to be decompressed: reading from the socket pauses and a later
  /// event-loop task continues, one slice at a time.
  private var backlogged = false
  @exclusivity(unchecked) private var calls: [UInt32: ServerCall] = [:]
  /// A call opened by the last frame whose method answers immediately: until the next frame (its
  /// request, most likely) or the end of the read, it is only this (see `handleFrame`).
  @exclusivity(unchecked) private var opening: OpeningCall?
  /// The method this connection's last call found (``ServerCore/admit(pathBytes:callID:peer:recent:)``).
  @exclusivity(unchecked) private var recentMethod: RPCRouter.Method?
  /// Where immediate paths encode their responses (``ServerCore/runImmediately``): written into
  /// the batch at once, so its storage is free again for the next call.
  @exclusivity(unchecked) var responseScratch = ByteBuffer()
  /// The open calls' deadlines, served by one timer (calls remove themselves as they end).
  var deadlines = DeadlineHeap<ServerCall>()
  private var peer = "unknown"
  private var handshakeTimer: Scheduled<Void>?
  private var keepaliveTimer: Scheduled<Void>?
  private var stallTimer: Scheduled<Void>?
  @exclusivity(unchecked) private var keepalive: Keepalive
  /// Whether our preface went out; every GOAWAY is preceded by it (docs/PROTOCOL.md §2.1).
  private var prefaceSent = false
  private var closing = false
  /// Whether the socket accepts writes without queueing past NIO's high watermark.
  private(set) var isWritable = true
  private var waitingForWritability: [ServerCall] = []
  @exclusivity(unchecked) private var bytesSinceYield = 0
  /// Where byte counts go (nil when metrics are off), and what was read since the last report.
  private let byteCounters: ByteCounters?
  @exclusivity(unchecked) private var wireBytesUnreported = 0
  @exclusivity(unchecked) private var plainBytesReported = 0
  private var countedAsOpen = false

  init(core: ServerCore, eventLoop: any EventLoop) {
    self.core = core
    self.eventLoop = eventLoop
    self.executor = core.configuration.runHandlersOnEventLoop ? EventLoopTaskExecutor(eventLoop) : nil
    self.state = ServerConnectionStateMachine(settings: core.configuration.settings, limits: core.configuration.limits)
    let limits = core.configuration.limits
    self.reader = FrameReader(
      role: .server, settings: core.configuration.settings,
      inflationLimit: InflationLimit(ratio: limits.maxInflationRatio, allowance: limits.inflationAllowance))
    self.batch = ByteBuffer()
    self.byteCounters = core.metrics.bytes
    self.keepalive = Keepalive(
      interval: core.configuration.keepaliveInterval, timeout: core.configuration.keepaliveTimeout, now: .now())
  }

  // MARK: Channel events

  /// Drops the context: it holds this handler, so keeping it would keep both alive after the
  /// connection closed.
  func handlerRemoved(context: ChannelHandlerContext) {
    self.context = nil
  }

  func handlerAdded(context: ChannelHandlerContext) {
    // The write batch gets its storage from the first write, sized by what is written, and
    // keeps that capacity across flushes.
    self.context = context
  }

  func channelActive(context: ChannelHandlerContext) {
    peer = context.channel.remoteAddress?.description ?? "unknown"
    core.connections.add(self)
    if let connections = core.metrics.connections {
      connections.increment()
      countedAsOpen = true
    }
    // Runs until the client's SETTINGS ACK arrives (cancelled in `handshakeCompleted`).
    handshakeTimer = eventLoop.scheduleTask(in: core.configuration.handshakeTimeout) { [self] in
      guard !handshakeDone else { return }
      closeWithError(ProtocolViolation(.settingsTimeout, "handshake not completed in time"))
    }
    context.fireChannelActive()
  }

  func channelInactive(context: ChannelHandlerContext) {
    handshakeTimer?.cancel()
    deadlines.disarm()
    keepaliveTimer?.cancel()
    stallTimer?.cancel()
    for call in Array(calls.values) { call.end(sending: nil) }
    calls.removeAll()
    waitingForWritability.removeAll()
    core.connections.remove(self)
    if countedAsOpen {
      core.metrics.connections?.decrement()
      countedAsOpen = false
    }
    reportBytesRead()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    core.logger.debug("connection error", metadata: ["rpc.peer": "\(peer)", "error": "\(error)"])
    context.close(promise: nil)
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    // A peer that does not read: stop reading its requests (so it cannot make us queue more
    // responses) and give up on it if it stays that way.
    let writable = context.channel.isWritable
    isWritable = writable
    context.channel.setOption(ChannelOptions.autoRead, value: writable && !backlogged).whenComplete { _ in }
    if writable {
      stallTimer?.cancel()
      stallTimer = nil
      let waiting = waitingForWritability
      waitingForWritability = []
      for call in waiting { call.writabilityRestored() }
      if !backlogged { context.read() }
    } else if stallTimer == nil {
      stallTimer = eventLoop.scheduleTask(in: core.configuration.writeStallTimeout) { [self] in
        core.logger.info("closing connection whose peer stopped reading", metadata: ["rpc.peer": "\(peer)"])
        self.context?.close(promise: nil)
      }
    }
    context.fireChannelWritabilityChanged()
  }

  /// Which zstd contexts this connection holds; each is created on first use. On the loop.
  var zstdContexts: (compressor: Bool, decompressor: Bool) { (outbound.hasCompressor, reader.hasDecompressor) }

  private var handshakeDone: Bool {
    switch state.phase {
    case .active, .draining: true
    default: false
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !closing else { return }
    reading = true
    keepalive.received(at: .now())
    var bytes = unwrapInboundIn(data)
    wireBytesUnreported &+= bytes.readableBytes
    do {
      if state.phase == .awaitingPreface {
        let wanted = Wire.prefaceLength - preface.count
        preface += bytes.readBytes(length: min(wanted, bytes.readableBytes)) ?? []
        guard preface.count == Wire.prefaceLength else { return }
        if let violation = state.receivedPreface(preface) {
          if violation.code == .unsupportedVersion {
            closeWithError(violation)
          } else {
            // Not an Emporium client: close without answering.
            closing = true
            context.close(promise: nil)
          }
          return
        }
      }
      try receive(bytes)
    } catch {
      readFailed(error)
    }
  }

  private func readFailed(_ error: any Error) {
    if let violation = error as? ProtocolViolation {
      closeWithError(violation)
    } else {
      closeWithError(ProtocolViolation(.compressionError, "invalid compressed data: \(error)"))
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    reading = false
    reportBytesRead()
    flush()
    context.fireChannelReadComplete()
  }

  /// Adds what was read since the last report to the byte counters: once per read batch, not
  /// per frame.
  private func reportBytesRead() {
    guard let byteCounters else { return }
    let plain = reader.plainBytesRead
    byteCounters.add(wireReceived: wireBytesUnreported, plainReceived: plain - plainBytesReported)
    wireBytesUnreported = 0
    plainBytesReported = plain
  }

  /// The most bytes decompressed per event-loop task: a small input that inflates to gigabytes
  /// then costs its neighbours on the loop no more than one slice at a time.
  static let readSlice = 256 << 10

  /// When the next slice of a backlog runs. Not at once: NIO runs every task that is due before
  /// it polls the sockets again, so a slice must come due after the tick ends to let the other
  /// connections of the loop be read in between.
  static let sliceDelay: TimeAmount = .microseconds(50)

  private func scheduleBacklog() {
    eventLoop.scheduleTask(in: Self.sliceDelay) { [self] in continueBacklog() }
  }

  /// Feeds received bytes through decompression and the frame decoder, one slice now and the
  /// rest in later event-loop tasks (reading from the socket pauses meanwhile).
  private func receive(_ bytes: ByteBuffer) throws {
    guard !backlogged else { return reader.append(bytes) }
    // A call opened by the read's last frame waits for its request as a call of its own.
    defer { openWaitingCall() }
    let more = try reader.read(bytes, budget: Self.readSlice, allocator: context!.channel.allocator) { frame in
      try handleFrame(frame)
    }
    if more, !backlogged {
      backlogged = true
      context?.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
      scheduleBacklog()
    }
  }

  private func handleFrame(_ frame: Frame) throws -> FrameReader.Next {
    let action = state.receivedFrame(frame, now: .now())
    if let call = opening {
      opening = nil
      if case .deliverMessage(let callID, let message, let charge, true) = action, callID == call.callID {
        answer(call, message, charge: charge)
        return closing ? .stop : .proceed
      }
      open(call)
    }
    if try handle(action) { return .switchToCompressed }
    return closing ? .stop : .proceed
  }

  /// Decompresses the next slice of the backlog; reading resumes once it is gone.
  private func continueBacklog() {
    // A connection that closed meanwhile has ended its calls: its backlog opens no new ones.
    guard backlogged, !closing, let context, context.channel.isActive else { return }
    reading = true
    var more = false
    do {
      more = try reader.resume(budget: Self.readSlice, allocator: context.channel.allocator) { frame in
        try handleFrame(frame)
      }
      openWaitingCall()
    } catch {
      openWaitingCall()
      readFailed(error)
    }
    reading = false
    reportBytesRead()
    flush()
    guard !closing else { return }
    if more {
      scheduleBacklog()
      return
    }
    backlogged = false
    if isWritable {
      context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
      context.read()
    }
  }

  // MARK: Actions

  /// Runs one action; returns true when inbound decompression starts here.
  private func handle(_ action: ServerConnectionStateMachine.Action) throws -> Bool {
    switch action {
    case .none:
      break
    case .sendHandshake(let settings):
      FrameEncoder.writePreface(into: &batch)
      prefaceSent = true
      FrameEncoder.writeSettings(settings, into: &batch)
      flush()
      if settings.compression.contains(.zstd) {
        let windowLog = min(Int32(state.peer.zstdWindowLogMax), core.configuration.zstdWindowLog)
        try outbound.startCompressing(level: core.configuration.zstdLevel, windowLog: windowLog)
      }
    case .handshakeCompleted(let decompressInbound):
      handshakeCompleted()
      return decompressInbound  // the caller switches once the current plain chunk is done
    case .startCall(let callID, let open):
      startCall(callID, open)
    case .rejectCall(let callID, let path, let error):
      core.refuse(error, path: path, callID: callID, peer: peer)
      writeTrailers(callID: callID, Trailers(error))
    case .deliverMessage(let callID, let message, let charge, let endStream):
      calls[callID]?.deliver(InboundMessage(bytes: message, charge: charge), endStream: endStream)
    case .deliverHalfClose(let callID):
      calls[callID]?.deliverHalfClose()
    case .failCall(let callID, let error):
      if let call = calls[callID] {
        call.task?.cancel()
        call.end(sending: Trailers(error))
      }
    case .cancelCall(let callID, let code):
      calls[callID]?.end(sending: nil, code: code)
    case .addOutboundCredit(let callID, let increment):
      if let call = calls[callID], !call.addCredit(increment) {
        closeWithError(ProtocolViolation(.flowControlError, "credit for call \(callID) overflows"))
      }
    case .sendCredit(let callID, let increment):
      FrameEncoder.writeCredit(callID: callID, increment: increment, into: &batch)
      scheduleFlush()
    case .sendPingAck(let payload):
      FrameEncoder.writePing(ack: true, payload: payload, into: &batch)
      scheduleFlush()
    case .keepaliveAcknowledged:
      keepalive.acknowledged()
    case .peerGoingAway(let closeNow):
      // Otherwise the open calls finish and the last one to end closes the connection.
      if closeNow { closeGracefully() }
    case .closeWithError(let violation):
      closeWithError(violation)
    }
    return false
  }

  private func startCall(_ callID: UInt32, _ open: CallOpen) {
    let method: RPCRouter.Method
    switch core.admit(pathBytes: open.pathBytes, callID: callID, peer: peer, recent: &recentMethod) {
    case .success(let admitted):
      method = admitted
    case .failure(let error):
      writeTrailers(callID: callID, Trailers(error))
      _ = state.callEnded(callID: callID)
      return
    }
    var deadline: ContinuousClock.Instant?
    var timeoutMicros: Int64?
    if let timeout = open.timeoutMicroseconds {
      let micros = Int64(clamping: timeout)
      deadline = .now + .microseconds(micros)
      timeoutMicros = micros
    }
    let context = ServerContext(
      method: method.descriptor, metadata: open.metadata, deadline: deadline, peer: peer, callID: callID,
      serverLogger: core.logger)
    let timer = timeoutMicros.map { NIODeadline.now() + .microseconds($0) }
    if method.immediate != nil, core.configuration.immediateHandlers {
      // Its request is most likely the next frame: until then the call is only this.
      opening = OpeningCall(
        callID: callID, method: method, context: context, deadline: timer, startedAt: method.metrics?.started() ?? 0)
      return
    }
    startHandler(makeCall(callID, method: method, context: context, deadline: timer))
  }

  /// Makes a call's `ServerCall`, with its deadline (`deadline`: when it is cancelled, if ever).
  private func makeCall(
    _ callID: UInt32, method: RPCRouter.Method, context: ServerContext, deadline: NIODeadline?
  ) -> ServerCall {
    let call = ServerCall(
      id: callID, eventLoop: eventLoop, connection: self, initialCredit: state.peer.initialCallWindow, core: core,
      method: method, context: context)
    calls[callID] = call
    if let deadline {
      call.deadline = deadline
      deadlines.insert(call)
      armDeadlineTimer()
    }
    return call
  }

  /// Makes the call that the last frame opened, waiting for its request
  /// (``ServerCall/awaitImmediateRequest(startedAt:)``).
  @discardableResult
  private func open(_ opening: OpeningCall) -> ServerCall {
    let call = makeCall(opening.callID, method: opening.method, context: opening.context, deadline: opening.deadline)
    call.awaitImmediateRequest(startedAt: opening.startedAt)
    return call
  }

  /// The read (or backlog slice) ended right after a call opened: it waits as a call of its own.
  private func openWaitingCall() {
    guard let call = opening else { return }
    opening = nil
    open(call)
  }

  /// A call whose request came in the frame right after it opened: its method's immediate path
  /// runs with it. An answer that can go out at once (and its trailers) is written here, and
  /// the call never needs a `ServerCall`; anything else is left to one, as if it had waited.
  private func answer(_ opening: OpeningCall, _ message: ByteBuffer, charge: Int) {
    let outcome = core.runImmediately(
      opening.method, request: message, context: opening.context, startedAt: opening.startedAt,
      scratch: &responseScratch)
    guard case .answered(let response, let trailers) = outcome,
      response.map({ fitsAtOnce($0.readableBytes) }) ?? true
    else {
      let call = open(opening)
      switch outcome {
      case .deferred: call.deferred(InboundMessage(bytes: message, charge: charge), endStream: true)
      case .answered(let response, let trailers): call.answered(response, trailers, charge: charge)
      }
      return
    }
    core.handlerSlots.release()
    messageConsumed(callID: opening.callID, charge: charge)
    if var response {
      var credit = OutboundCredit(initial: state.peer.initialCallWindow)
      _ = writeMessage(callID: opening.callID, &response, credit: &credit)
    }
    writeTrailers(callID: opening.callID, trailers)
    if state.callEnded(callID: opening.callID) { closeGracefully() }
  }

  /// Whether a response of `size` bytes goes out whole at once: within the caller's limit and
  /// its call window, on a writable socket (otherwise its `ServerCall` sends it, or refuses it).
  private func fitsAtOnce(_ size: Int) -> Bool {
    size <= peerMaxMessageSize && size <= Int(state.peer.initialCallWindow) && isWritable
  }

  /// Starts the task that runs a call's handler.
  func startHandler(_ call: ServerCall) {
    // The closure captures only the call, so it needs no allocated context.
    call.task = Task(executorPreference: executor) { await call.runHandler() }
  }

  /// Arms the connection's deadline timer for the earliest call's deadline, if the armed one
  /// fires later (or none is armed).
  private func armDeadlineTimer() {
    guard let deadline = deadlines.timerNeeded else { return }
    let timer = eventLoop.scheduleTask(deadline: deadline) { [self] in
      for call in deadlines.fired(for: deadline, now: .now()) { call.deadlineExceeded() }
      armDeadlineTimer()
    }
    deadlines.armed(for: deadline, timer)
  }

  func messageConsumed(callID: UInt32, charge: Int) {
    if let increment = state.messageConsumed(callID: callID, charge: charge) {
      FrameEncoder.writeCredit(callID: callID, increment: increment, into: &batch)
      scheduleFlush()
    }
  }

  // MARK: Writing (called by calls, on the event loop)

  /// Writes what `credit` allows of a message (see ``OutboundCredit``), as MESSAGE frames no
  /// larger than the peer accepts. Returns true when the whole message went out.
  func writeMessage(callID: UInt32, _ bytes: inout ByteBuffer, credit: inout OutboundCredit) -> Bool {
    let before = batch.readableBytes
    guard FrameEncoder.writeMessageFrames(
      callID: callID, &bytes, credit: &credit, maxFrameSize: Int(state.peer.maxFrameSize), into: &batch)
    else { return false }
    bytesSinceYield += batch.readableBytes - before
    // A large batch goes out now, so the socket's writability reflects it.
    if batch.readableBytes >= 256 << 10 { flush() } else { scheduleFlush() }
    return bytes.readableBytes == 0
  }

  /// The largest message the client accepts (its MAX_MESSAGE_SIZE); larger responses fail the
  /// call instead of being sent.
  var peerMaxMessageSize: Int { Int(state.peer.maxMessageSize) }

  /// Parks a call's send until the socket is writable again.
  func waitForWritability(_ call: ServerCall) {
    if !waitingForWritability.contains(where: { $0 === call }) { waitingForWritability.append(call) }
  }

  /// True about every 256 KiB of response data: a handler writing in a loop then yields so the
  /// event loop can flush and serve other connections.
  func shouldYield() -> Bool {
    guard bytesSinceYield >= 256 << 10 else { return false }
    bytesSinceYield = 0
    return true
  }

  func writeResponseHeaders(callID: UInt32, _ metadata: Metadata) {
    let limit = HeaderLimits.payloadLimit(state.peer)
    FrameEncoder.writeResponseHeaders(callID: callID, metadata.fitted(toHeaderLimit: limit), into: &batch)
    scheduleFlush()
  }

  func writeTrailers(callID: UInt32, _ trailers: Trailers) {
    let limit = HeaderLimits.payloadLimit(state.peer)
    FrameEncoder.writeTrailers(callID: callID, trailers.fitted(toHeaderLimit: limit), into: &batch)
    scheduleFlush()
  }

  func callEnded(_ call: ServerCall) {
    calls[call.id] = nil
    if state.callEnded(callID: call.id) { closeGracefully() }
  }

  // MARK: Flushing

  private func scheduleFlush() {
    guard !reading, !flushScheduled else { return }  // a read flushes at channelReadComplete
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
      byteCounters?.add(wireSent: bytes.readableBytes, plainSent: plain)
      batch.moveReaderIndex(forwardBy: plain)
      context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    } catch {
      core.logger.error("compression failed", metadata: ["error": "\(error)"])
      context.close(promise: nil)
    }
    // After the block, where `bytes` (the batch itself when nothing is compressed) has gone.
    batch.reuseAfterFlush()
  }

  // MARK: Lifecycle

  /// The client acknowledged our SETTINGS: the handshake timeout no longer applies, and
  /// keepalive starts watching the connection.
  private func handshakeCompleted() {
    handshakeTimer?.cancel()
    handshakeTimer = nil
    scheduleKeepaliveCheck(at: keepalive.firstCheck)
  }

  private func scheduleKeepaliveCheck(at deadline: NIODeadline) {
    keepaliveTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in keepaliveCheck() }
  }

  private func keepaliveCheck() {
    guard !closing else { return }
    let now = NIODeadline.now()
    switch keepalive.check(now: now) {
    case .wait(let until):
      scheduleKeepaliveCheck(at: until)
    case .sendPing(let checkAt):
      FrameEncoder.writePing(ack: false, payload: UInt64(now.uptimeNanoseconds), into: &batch)
      flush()
      scheduleKeepaliveCheck(at: checkAt)
    case .timedOut:
      closeWithError(ProtocolViolation(.keepaliveTimeout, "keepalive ping not acknowledged"))
    }
  }

  /// Sends GOAWAY (after our preface, when it has not gone out yet) and closes.
  private func closeWithError(_ violation: ProtocolViolation) {
    guard !closing, let context else { return }
    closing = true
    core.logger.debug("closing connection", metadata: ["rpc.peer": "\(peer)", "reason": "\(violation)"])
    writeGoAway(lastCallID: state.highestCallID, code: violation.code, debug: violation.message)
    flush()
    context.close(promise: nil)
  }

  /// Writes GOAWAY, preceded by our preface when that has not gone out yet: a client that
  /// follows §2.1 reads a preface first, and would take a bare GOAWAY for a bad preface.
  private func writeGoAway(lastCallID: UInt32, code: ConnectionErrorCode, debug: String) {
    if !prefaceSent {
      FrameEncoder.writePreface(into: &batch)
      prefaceSent = true
    }
    FrameEncoder.writeGoAway(lastCallID: lastCallID, code: code, debug: debug, into: &batch)
  }

  private func closeGracefully() {
    guard !closing else { return }
    closing = true
    flush()
    context?.close(promise: nil)
  }

  /// Starts a graceful drain: GOAWAY with the last call that will be processed; new calls are
  /// refused; the connection closes when its calls finish. Thread-safe.
  func beginDraining() {
    eventLoop.execute { [self] in
      guard !closing else { return }
      let (last, closeNow) = state.beginDraining()
      writeGoAway(lastCallID: last, code: .noError, debug: "server shutting down")
      flush()
      if closeNow { closeGracefully() }
    }
  }

  /// Ends every call and closes now (after the drain timeout). Thread-safe.
  func forceClose() {
    eventLoop.execute { [self] in
      for call in Array(calls.values) {
        call.task?.cancel()
        call.end(sending: Trailers(RPCError(code: .unavailable, message: "server shut down before the call finished")))
      }
      closeGracefully()
    }
  }
}

extension Trailers {
  init(_ error: RPCError) {
    var details: [UInt8] = []
    if let structured = error.details { details = (try? structured.serializedBytes()) ?? [] }
    self.init(code: error.code, message: error.message, details: details, metadata: error.metadata, refused: error.refused)
  }
}

/// A call that has just opened and waits for its request, before it needs a ``ServerCall``.
struct OpeningCall {
  let callID: UInt32
  let method: RPCRouter.Method
  let context: ServerContext
  /// When the call is cancelled for its deadline, if it has one.
  let deadline: NIODeadline?
  /// When the call was counted as started in the method's metrics.
  let startedAt: UInt64
}
