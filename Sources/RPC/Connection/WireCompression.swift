import NIOCore

/// The compressed byte stream of one connection direction, or none.
///
/// Outbound: frames accumulate as plain bytes in a batch; `seal` turns the batch into what goes
/// on the socket (compressed and flushed at the batch boundary, so the peer can decode every
/// frame of the batch at once). Inbound: `inflate` turns received bytes into plain bytes in
/// bounded chunks.
///
/// The zstd contexts are created on first use, not when compression is negotiated: the
/// compressor with the first batch to compress, the decompressor with the first compressed
/// bytes received. A connection that carries nothing after its handshake holds neither (a
/// context is about 100 KiB before its window is even allocated).
struct OutboundStream: ~Copyable {
  private var compressor: ZstdStreamCompressor?
  private var level: Int32 = 0
  private var windowLog: Int32 = 0

  init() {}

  private(set) var isCompressing = false

  /// Whether the zstd context exists (it is created by the first `seal` after
  /// `startCompressing`).
  var hasCompressor: Bool { compressor != nil }

  /// Compresses everything written after this call. Throws for parameters out of range; the
  /// context itself is created when the first batch is sealed.
  mutating func startCompressing(level: Int32, windowLog: Int32) throws {
    try ZstdStreamCompressor.checkParameters(level: level, windowLog: windowLog)
    self.level = level
    self.windowLog = windowLog
    isCompressing = true
  }

  /// The bytes to write for a batch of plain frames.
  mutating func seal(_ batch: ByteBuffer, allocator: ByteBufferAllocator) throws -> ByteBuffer {
    guard isCompressing else { return batch }
    if compressor == nil { compressor = try ZstdStreamCompressor(level: level, windowLog: windowLog) }
    var output = allocator.buffer(capacity: batch.readableBytes / 2 + 64)
    try compressor!.compress(batch, into: &output)
    try compressor!.flush(into: &output)
    return output
  }

}

/// How far a peer's compressed stream may inflate: past `allowance` plus `ratio` times the
/// compressed bytes consumed, the connection is closed with ENHANCE_YOUR_CALM
/// (docs/PROTOCOL.md §13).
struct InflationLimit: Hashable, Sendable {
  var ratio: Int
  var allowance: Int

  /// Whether `inflated` plain bytes from `compressed` bytes pass the limit.
  func isExceeded(inflated: Int, compressed: Int) -> Bool {
    let (scaled, overflow) = ratio.multipliedReportingOverflow(by: compressed)
    return !overflow && inflated - allowance > scaled
  }
}

struct InboundStream: ~Copyable {
  private var decompressor: ZstdStreamDecompressor?
  private var windowLogMax: Int32 = 0
  private let limit: InflationLimit?
  /// Compressed bytes the decompressor consumed, and plain bytes it produced.
  private(set) var compressedBytes = 0
  private(set) var inflatedBytes = 0
  /// The most plain bytes produced per step, so a decompression bomb cannot make one read
  /// allocate without bound: the frame decoder consumes each chunk before the next is made.
  static let chunkSize = 64 << 10

  init(limit: InflationLimit? = nil) {
    self.limit = limit
  }

  private(set) var isDecompressing = false

  /// Whether the zstd context exists (it is created when the first compressed bytes arrive
  /// after `startDecompressing`).
  var hasDecompressor: Bool { decompressor != nil }

  /// Decompresses everything received after this call. Throws for a window log out of range;
  /// the context itself is created when the first compressed bytes arrive.
  mutating func startDecompressing(windowLogMax: Int32) throws {
    try ZstdStreamDecompressor.checkParameters(windowLogMax: windowLogMax)
    self.windowLogMax = windowLogMax
    isDecompressing = true
  }

  /// Calls `body` with each chunk of plain bytes that `input` yields.
  mutating func inflate(_ input: ByteBuffer, allocator: ByteBufferAllocator, _ body: (ByteBuffer) throws -> Void) throws {
    var input = input
    _ = try inflate(&input, budget: .max, allocator: allocator) { plain in
      try body(plain)
      return true
    }
  }

  /// Calls `body` with each chunk of plain bytes that `input` yields, consuming `input`, until
  /// `body` returns false or about `budget` plain bytes were produced. Returns true when work is
  /// left: what remains of `input`, or output the decompressor still holds (call again with it).
  /// Uncompressed input goes to `body` whole.
  mutating func inflate(
    _ input: inout ByteBuffer, budget: Int, allocator: ByteBufferAllocator, _ body: (ByteBuffer) throws -> Bool
  ) throws -> Bool {
    guard isDecompressing else {
      let plain = input
      input.moveReaderIndex(to: input.writerIndex)
      _ = try body(plain)
      return false
    }
    guard input.readableBytes > 0 || decompressor != nil else { return false }
    if decompressor == nil { decompressor = try ZstdStreamDecompressor(windowLogMax: windowLogMax) }
    var produced = 0
    while true {
      var output = allocator.buffer(capacity: Self.chunkSize)
      let before = input.readableBytes
      let more = try decompressor!.decompress(&input, into: &output, maxOutputBytes: Self.chunkSize)
      compressedBytes += before - input.readableBytes
      inflatedBytes += output.readableBytes
      produced += output.readableBytes
      if let limit, limit.isExceeded(inflated: inflatedBytes, compressed: compressedBytes) {
        throw ProtocolViolation(
          .enhanceYourCalm, "compressed stream inflates more than \(limit.ratio) times its size")
      }
      if output.readableBytes > 0, try !body(output) { return false }
      // `more` false: the input is used up and the decompressor holds nothing more.
      if !more { return false }
      if produced >= budget { return true }
    }
  }
}

extension ByteBuffer {
  /// A connection's write batch after a flush: the flush moved its reader past the bytes it
  /// handed to the channel before writing them (so anything written while the write ran goes out
  /// with the next flush, after them). Once the channel has written them (most writes complete
  /// at once) and let go of them, the storage is the batch's alone again, and clearing it here
  /// keeps its capacity for the next batch instead of allocating one per flush.
  mutating func reuseAfterFlush() {
    if readableBytes == 0 { clear() }
  }
}
