import NIOCore

/// Splits a byte stream into `[u32 big-endian length][payload]` frames and passes each
/// payload on as a slice of the read buffer (no copy). The length is checked before waiting
/// for the payload.
struct LengthPrefixedFrameDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer

  /// Larger frames close the connection.
  static let maxFrameSize = 16 << 20

  struct FrameTooLarge: Error {}

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
    guard length <= Self.maxFrameSize else { throw FrameTooLarge() }
    guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
    return .continue
  }

  mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
    -> DecodingState
  {
    try decode(context: context, buffer: &buffer)
  }
}
