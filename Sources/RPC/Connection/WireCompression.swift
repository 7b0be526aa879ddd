import NIOCore

/// The compressed byte stream of one connection direction, or none.
///
/// Outbound: frames accumulate as plain bytes in a batch; `seal` turns the batch into what goes
/// on the socket (compressed and flushed at the batch boundary, so the peer can decode every
/// frame of the batch at once). Inbound: `inflate` turns received bytes into plain bytes in
/// bounded chunks.
struct OutboundStream: ~Copyable {
  private var compressor: ZstdStreamCompressor?

  init() {}

  private(set) var isCompressing = false

  /// Compresses everything written after this call.
  mutating func startCompressing(level: Int32, windowLog: Int32) throws {
    compressor = try ZstdStreamCompressor(level: level, windowLog: windowLog)
    isCompressing = true
  }

  /// The bytes to write for a batch of plain frames.
  mutating func seal(_ batch: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
    guard isCompressing else { return batch }
    var output = allocator.buffer(capacity: batch.readableBytes / 2 + 64)
    try compressor!.compress(batch, into: &output)
    try compressor!.flush(into: &output)
    return output
  }

}

struct InboundStream: ~Copyable {
  private var decompressor: ZstdStreamDecompressor?
  /// The most plain bytes produced per step, so a decompression bomb cannot make one read
  /// allocate without bound: the frame decoder consumes each chunk before the next is made.
  static let chunkSize = 64 << 10

  init() {}

  private(set) var isDecompressing = false

  mutating func startDecompressing(windowLogMax: Int32) throws {
    decompressor = try ZstdStreamDecompressor(windowLogMax: windowLogMax)
    isDecompressing = true
  }

  /// Calls `body` with each chunk of plain bytes that `input` yields.
  mutating func inflate(_ input: ByteBuffer, allocator: ByteBufferAllocator, _ body: (ByteBuffer) throws -> Void) throws {
    guard isDecompressing else {
      try body(input)
      return
    }
    var input = input
    while true {
      var output = allocator.buffer(capacity: Self.chunkSize)
      let more = try decompressor!.decompress(&input, into: &output, maxOutputBytes: Self.chunkSize)
      if output.readableBytes > 0 { try body(output) }
      if !more && input.readableBytes == 0 { return }
      if !more && output.readableBytes == 0 { return }
    }
  }

}
