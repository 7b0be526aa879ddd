import NIOCore

/// The bare NIO echo server's handler: writes every frame back unchanged, coalescing the
/// frames of one read batch into one buffer that is written and flushed on
/// `channelReadComplete`.
final class FrameEchoHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private var batch: ByteBuffer?

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = Self.unwrapInboundIn(data)
    if batch == nil { batch = context.channel.allocator.buffer(capacity: 4 + frame.readableBytes) }
    batch!.writeInteger(UInt32(frame.readableBytes))
    batch!.writeImmutableBuffer(frame)
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if let batch {
      self.batch = nil
      context.writeAndFlush(Self.wrapOutboundOut(batch), promise: nil)
    }
    context.fireChannelReadComplete()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}
