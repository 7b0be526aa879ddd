import NIOCore

/// The bare NIO echo client's handler: keeps `concurrency` frames in flight on its connection.
///
/// Responses come back in order, so the send time of every outstanding frame waits in a FIFO.
/// Each response is recorded (if it arrived inside the window) and replaced by the next frame;
/// the frames sent in one read batch are coalesced into one buffer, flushed on
/// `channelReadComplete`. Once the window is over it stops sending and, when the last response
/// is in, completes `finished` with its tally. Confined to its channel's event loop.
final class FrameLoadHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  /// Encoded frames (`[length][payload]`) to cycle through.
  private let frames: [ByteBuffer]
  private let payloadSize: Int
  private let concurrency: Int
  private let phase: StreamPhase
  private let finished: EventLoopPromise<StreamTally>
  private var sendTimes = CircularBuffer<UInt64>()
  private var tally = StreamTally()
  private var next = 0
  private var batch: ByteBuffer?
  private var completed = false

  init(
    frames: [ByteBuffer], payloadSize: Int, concurrency: Int, phase: StreamPhase,
    finished: EventLoopPromise<StreamTally>
  ) {
    self.frames = frames
    self.payloadSize = payloadSize
    self.concurrency = concurrency
    self.phase = phase
    self.finished = finished
    self.sendTimes.reserveCapacity(concurrency)
  }

  func channelActive(context: ChannelHandlerContext) {
    for _ in 0..<concurrency { send(context: context) }
    flush(context: context)
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = Self.unwrapInboundIn(data)
    let start = sendTimes.removeFirst()
    if frame.readableBytes != payloadSize { tally.errors += 1 }
    tally.record(since: start, phase: phase)
    if phase.isDone {
      if sendTimes.isEmpty { complete(.success(tally)) }
    } else {
      send(context: context)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    flush(context: context)
    context.fireChannelReadComplete()
  }

  func channelInactive(context: ChannelHandlerContext) {
    complete(.failure(ChannelError.ioOnClosedChannel))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    complete(.failure(error))
    context.close(promise: nil)
  }

  private func complete(_ result: Result<StreamTally, any Error>) {
    guard !completed else { return }
    completed = true
    finished.completeWith(result)
  }

  private func send(context: ChannelHandlerContext) {
    let frame = frames[next % frames.count]
    next &+= 1
    if batch == nil { batch = context.channel.allocator.buffer(capacity: frame.readableBytes * 4) }
    batch!.writeImmutableBuffer(frame)
    sendTimes.append(monotonicNanoseconds())
  }

  private func flush(context: ChannelHandlerContext) {
    guard let batch else { return }
    self.batch = nil
    context.writeAndFlush(Self.wrapOutboundOut(batch), promise: nil)
  }
}
