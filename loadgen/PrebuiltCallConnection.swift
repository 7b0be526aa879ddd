import LoadCore
import NIOCore
import NIOPosix
import RPC

/// The loop engine's `prebuilt` call path (`--call-path`, docs/LOADGEN.md "Call paths"): a
/// connection that makes one unary call, built once, for each journey.
///
/// The frames are ``PrebuiltUnaryCall``'s: the same HEADERS and MESSAGE the RPC client writes
/// for that call, copied with the call's id. What the client does per call beyond writing
/// them — a call object, a table entry keyed by a hash, a deadline heap entry, the response's
/// headers and trailers decoded into values, metrics — is replaced by one slot in a ring indexed
/// by call id and the first byte of the TRAILERS (the status code). The response message is
/// still checked by the scenario. So the server does exactly the work it does for the RPC
/// client's calls, and loadgen a good deal less, which is what a load generator is for: one
/// core of it should offer more than one core of the server can answer.
///
/// Deadlines: every call carries the scenario's timeout, which the server enforces; this side
/// gives up on a call (CANCEL, DEADLINE_EXCEEDED) no earlier than its timeout after it was sent
/// and at most an eighth of it later, from a timer that counts periods, so no clock is read
/// per call. Calls go out as the RPC client sends them, whatever the number in flight: the server
/// counts what it has open and refuses calls past its limit (RESOURCE_EXHAUSTED), where a count
/// kept here would also hold the calls still in the sockets' buffers. GOAWAY fails the calls the
/// server will not process, and a closed connection all of them, with UNAVAILABLE. Every method runs on the connection's event loop.
final class PrebuiltCallConnection: ChannelInboundHandler, @unchecked Sendable {
  // @unchecked Sendable and @exclusivity(unchecked): everything runs on the event loop, and no
  // access to a property is held across a call that could touch it again (a journey's
  // completion may start the next call, after the slot is done with), so the runtime's dynamic
  // exclusivity bookkeeping is skipped, as in the RPC server's connection handler.
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  /// One open call.
  private struct Slot {
    /// 0 when the slot is free.
    var callID: UInt32 = 0
    var journey: LoopJourney?
    /// The deadline timer's period count when the call was sent.
    var sentPeriod: UInt64 = 0
    /// Whether the response message passed the scenario's check; nil before it arrived.
    var responseOK: Bool?
    /// A response message in fragments, as they arrive.
    var partial: ByteBuffer?
  }

  let eventLoop: any EventLoop
  private let call: PrebuiltUnaryCall
  private let check: (ByteBuffer) -> Bool
  /// The deadline timer's period and how many whole periods make a call overdue.
  private let period: TimeAmount?
  private let overduePeriods: UInt64
  private let settings: ConnectionSettings

  private var context: ChannelHandlerContext?
  private var openingSent = false
  private let ready: EventLoopPromise<Void>
  private var handshakeDone = false
  private var handshakeFailed = false
  /// Set when a frame could not be read: nothing more is.
  private var abandoned = false
  @exclusivity(unchecked) private var inbound = ByteBuffer()
  @exclusivity(unchecked) private var batch = ByteBuffer()
  @exclusivity(unchecked) private var reading = false
  @exclusivity(unchecked) private var flushScheduled = false

  @exclusivity(unchecked) private var slots: [Slot]
  @exclusivity(unchecked) private var mask: Int
  @exclusivity(unchecked) private var nextCallID: UInt32 = 1
  /// No call below this id is open.
  @exclusivity(unchecked) private var oldest: UInt32 = 1
  @exclusivity(unchecked) private var periods: UInt64 = 0
  private var timer: RepeatedTask?
  /// Why no new call may start (GOAWAY, the connection closed); nil while they may.
  private(set) var closedReason: String?

  private static let statusNames: [String] = (0...255).map { RPCStatusCode(rawValue: UInt8($0))?.name ?? "UNKNOWN" }
  private static let unavailable = RPCStatusCode.unavailable.name

  private init(eventLoop: any EventLoop, call: PrebuiltUnaryCall, check: @escaping (ByteBuffer) -> Bool) {
    self.eventLoop = eventLoop
    self.call = call
    self.check = check
    if let timeout = call.timeout {
      let nanoseconds = max(8_000_000, timeout.loadNanoseconds)  // periods of at least 1 ms
      period = .nanoseconds(Int64(min(nanoseconds, UInt64(Int64.max))) / 8)
      overduePeriods = 9  // 8 periods make the timeout; one more because the send fell inside a period
    } else {
      period = nil
      overduePeriods = .max
    }
    var settings = ConnectionSettings()
    settings.compression = [.none]
    // The server never waits for CREDIT: its answers fit the first window.
    settings.initialCallWindow = UInt32(Int32.max)
    self.settings = settings
    slots = Array(repeating: Slot(), count: 1024)
    mask = 1023
    ready = eventLoop.makePromise()
  }

  /// Connects on `eventLoop` and completes the handshake; throws when the server does not
  /// speak the protocol or cannot take `call` as built.
  static func connect(
    host: String, port: Int, on eventLoop: any EventLoop, call: PrebuiltUnaryCall,
    connectTimeout: TimeAmount = .seconds(10), check: @escaping @Sendable (ByteBuffer) -> Bool
  ) async throws -> PrebuiltCallConnection {
    let handler = PrebuiltCallConnection(eventLoop: eventLoop, call: call, check: check)
    let channel: any Channel
    do {
      channel = try await ClientBootstrap(group: eventLoop)
        .connectTimeout(connectTimeout)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
        }
        .connect(host: host, port: port)
        .get()
    } catch {
      throw PrebuiltCallError("could not connect to \(host):\(port): \(error)")
    }
    let handshakeTimer = eventLoop.scheduleTask(in: connectTimeout) {
      handler.failHandshake(PrebuiltCallError("the server at \(host):\(port) did not complete the handshake in time"))
      channel.close(promise: nil)
    }
    defer { handshakeTimer.cancel() }
    do {
      try await handler.ready.futureResult.get()
    } catch {
      channel.close(promise: nil)
      throw error
    }
    return handler
  }

  /// Closes the connection; open calls finish with UNAVAILABLE.
  func close() async {
    let closed = eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
      guard let context = self.context else { return self.eventLoop.makeSucceededVoidFuture() }
      context.close(promise: nil)
      return context.channel.closeFuture
    }
    try? await closed.get()
  }

  // MARK: Calls

  /// Starts `journey`'s call; its completion finishes the journey with the call's status.
  func start(_ journey: LoopJourney) {
    if closedReason != nil {
      finishLater(journey, status: Self.unavailable)
      return
    }
    let id = nextCallID
    guard id < UInt32.max else {
      closedReason = "the connection's call ids are used up"
      finishLater(journey, status: Self.unavailable)
      return
    }
    nextCallID = id + 1
    while slots[Int(id) & mask].callID != 0 { grow() }
    slots[Int(id) & mask] = Slot(callID: id, journey: journey, sentPeriod: periods)
    call.write(callID: id, into: &batch)
    scheduleFlush()
  }

  /// A journey that fails before its call is sent finishes from the loop's queue, not from
  /// inside `start`: a closed-model user would otherwise start its next journey, and fail it,
  /// recursively.
  private func finishLater(_ journey: LoopJourney, status: String) {
    eventLoop.execute { journey.finish(status: status) }
  }

  /// Doubles the ring (a call open while a ring's worth of later ones came and went).
  private func grow() {
    var bigger = Array(repeating: Slot(), count: slots.count * 2)
    let biggerMask = bigger.count - 1
    for slot in slots where slot.callID != 0 { bigger[Int(slot.callID) & biggerMask] = slot }
    slots = bigger
    mask = biggerMask
  }

  /// Ends call `id` with status `code` (0 is OK), if it is open.
  private func complete(_ id: UInt32, code: UInt8) {
    let index = Int(id) & mask
    guard slots[index].callID == id, let journey = slots[index].journey else { return }
    let responseOK = slots[index].responseOK
    slots[index] = Slot()
    advanceOldest()
    let status: String
    if code == 0 {
      status = responseOK == true ? OperationKey.ok : "BAD_RESPONSE"
    } else {
      status = Self.statusNames[Int(code)]
    }
    journey.finish(status: status)
  }

  private func advanceOldest() {
    while oldest < nextCallID, slots[Int(oldest) & mask].callID != oldest { oldest += 1 }
  }

  /// A MESSAGE frame of call `id`: the whole response, or a fragment of it.
  private func received(_ id: UInt32, message: ByteBuffer, more: Bool) {
    let index = Int(id) & mask
    guard slots[index].callID == id else { return }
    if !more, slots[index].partial == nil {
      slots[index].responseOK = slots[index].responseOK == nil && check(message)
      return
    }
    var fragment = message
    if slots[index].partial == nil { slots[index].partial = ByteBuffer() }
    slots[index].partial!.writeBuffer(&fragment)
    if !more {
      let whole = slots[index].partial!
      slots[index].partial = nil
      slots[index].responseOK = slots[index].responseOK == nil && check(whole)
    }
  }

  /// The deadline timer: gives up on the calls sent `overduePeriods` periods ago or more.
  private func expireOverdue() {
    periods += 1
    var cancelled = false
    while oldest < nextCallID {
      let index = Int(oldest) & mask
      guard slots[index].callID == oldest else {
        oldest += 1
        continue
      }
      guard periods - slots[index].sentPeriod >= overduePeriods else { break }
      let journey = slots[index].journey!
      slots[index] = Slot()
      PrebuiltUnaryCall.cancelAtDeadline(callID: oldest, into: &batch)
      cancelled = true
      oldest += 1
      journey.finish(status: RPCStatusCode.deadlineExceeded.name)
    }
    if cancelled { flush() }
  }

  /// Fails the open calls above `lastID` (all of them by default) with UNAVAILABLE.
  private func failOpenCalls(above lastID: UInt32 = 0) {
    var id = max(oldest, lastID &+ 1)
    let end = nextCallID
    while id < end {
      let index = Int(id) & mask
      if slots[index].callID == id, let journey = slots[index].journey {
        slots[index] = Slot()
        journey.finish(status: Self.unavailable)
      }
      id += 1
    }
    advanceOldest()
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
    guard let context, batch.readableBytes > 0 else { return }
    context.writeAndFlush(wrapOutboundOut(batch), promise: nil)
    batch = ByteBuffer()
  }

  // MARK: ChannelInboundHandler

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    if context.channel.isActive { sendOpening() }
  }

  func channelActive(context: ChannelHandlerContext) {
    sendOpening()
    context.fireChannelActive()
  }

  private func sendOpening() {
    guard !openingSent, let context else { return }
    openingSent = true
    context.writeAndFlush(wrapOutboundOut(PrebuiltUnaryCall.clientOpening(settings)), promise: nil)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !abandoned else { return }
    var bytes = unwrapInboundIn(data)
    reading = true
    if inbound.readableBytes == 0 {
      inbound = bytes
    } else {
      inbound.writeBuffer(&bytes)
    }
    if !handshakeDone, !handshake(context) { return }
    readFrames(context)
    if inbound.readableBytes == 0 || abandoned { inbound = ByteBuffer() }  // let the read buffer go
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    reading = false
    flush()
  }

  /// Reads the server's opening when it has arrived; false until then (or when it failed).
  private func handshake(_ context: ChannelHandlerContext) -> Bool {
    do {
      guard let server = try PrebuiltUnaryCall.readServerOpening(&inbound) else { return false }
      guard server.compression == [.none] else {
        throw PrebuiltCallError("the server chose compression the connection did not offer")
      }
      if let reason = call.unsuitability(for: server) { throw PrebuiltCallError(reason, unsuitable: true) }
      handshakeDone = true
      PrebuiltUnaryCall.settingsAck(into: &batch)
      if let period {
        timer = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [self] _ in expireOverdue() }
      }
      ready.succeed()
      return true
    } catch {
      failHandshake(error)
      closedReason = "\(error)"
      context.close(promise: nil)
      return false
    }
  }

  /// Fails `connect` unless the handshake completed already.
  private func failHandshake(_ error: any Error) {
    guard !handshakeDone, !handshakeFailed else { return }
    handshakeFailed = true
    ready.fail(error)
  }

  private func readFrames(_ context: ChannelHandlerContext) {
    typealias Kind = PrebuiltUnaryCall.Kind
    while true {
      let start = inbound.readerIndex
      guard let header = PrebuiltUnaryCall.FrameHeader.read(&inbound) else { return }
      let length = Int(header.length)
      guard header.length <= settings.maxFrameSize else {
        return abandon(context, "a frame of \(length) bytes exceeds MAX_FRAME_SIZE")
      }
      guard inbound.readableBytes >= length else {
        inbound.moveReaderIndex(to: start)
        return
      }
      let payload = inbound.readerIndex
      defer { inbound.moveReaderIndex(to: payload + length) }
      switch header.type {
      case Kind.message:
        received(
          header.callID, message: inbound.getSlice(at: payload, length: length)!, more: header.flags & Kind.moreFlag != 0)
      case Kind.trailers:
        guard length >= 11 else { return abandon(context, "a TRAILERS frame of \(length) bytes") }
        complete(header.callID, code: inbound.getInteger(at: payload, as: UInt8.self)!)
      case Kind.cancel:
        guard length == 4 else { return abandon(context, "a CANCEL frame of \(length) bytes") }
        let code = inbound.getInteger(at: payload, as: UInt32.self)!
        complete(header.callID, code: code == 0 || code > 255 ? RPCStatusCode.unknown.rawValue : UInt8(code))
      case Kind.headers, Kind.credit:
        continue  // response headers carry nothing the journey needs; requests never wait for credit
      case Kind.ping:
        guard length == 8 else { return abandon(context, "a PING frame of \(length) bytes") }
        if header.flags & Kind.ackFlag == 0 {
          PrebuiltUnaryCall.pingAck(inbound.getInteger(at: payload, as: UInt64.self)!, into: &batch)
        }
      case Kind.goAway:
        guard length >= 12 else { return abandon(context, "a GOAWAY frame of \(length) bytes") }
        closedReason = "the server is going away"
        failOpenCalls(above: inbound.getInteger(at: payload, as: UInt32.self)!)
      default:
        return abandon(context, "a frame of type \(header.type) after the handshake")
      }
    }
  }

  /// Closes the connection over a frame it cannot read; its calls fail as it closes.
  private func abandon(_ context: ChannelHandlerContext, _ reason: String) {
    closedReason = "the server sent \(reason)"
    abandoned = true
    context.close(promise: nil)
  }

  func channelInactive(context: ChannelHandlerContext) {
    if closedReason == nil { closedReason = "the connection closed" }
    failHandshake(PrebuiltCallError(closedReason!))
    timer?.cancel()
    timer = nil
    failOpenCalls()
    self.context = nil
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if closedReason == nil { closedReason = "\(error)" }
    context.close(promise: nil)
  }
}
