import CZstd
package import NIOCore

/// The sending half of a zstd-compressed connection: one continuous zstd stream for everything
/// one side writes after the handshake.
///
/// Compress each outgoing protocol frame with ``compress(_:into:)``, then call
/// ``flush(into:)`` at the end of each write batch: from then on, the peer's
/// ``ZstdStreamDecompressor`` can decode every byte compressed so far. Frames share one history
/// window, so small similar messages cost far less than compressed one by one. The stream is
/// never ended; it lives as long as the connection.
///
/// Frame parameters: window log as given (the peer's negotiated `windowLogMax` or less), no
/// checksum (the transport is reliable), no content size (the stream has no known length).
///
/// ## Ownership
///
/// A `~Copyable` struct rather than a final class. The value owns one `ZSTD_CCtx` and frees it
/// in `deinit`, exactly once, when its owner drops it. A copy would share the context between
/// two owners (a double free, or two writers interleaving one stream), so the compiler forbids
/// copies; a class would allow shared references and cost a second allocation and reference
/// counting on every call. The owner, one channel handler on one event loop, keeps it in a
/// stored `var` (an `Optional` if compression starts after the handshake) and calls the
/// mutating methods. It is not `Sendable`: libzstd contexts are not thread-safe.
///
/// All calls are synchronous and run to completion; there is nothing to cancel.
package struct ZstdStreamCompressor: ~Copyable {
  /// The `ZSTD_CCtx`, owned by this value.
  private let context: OpaquePointer
  /// The error that broke the stream, thrown again by every later call.
  private var failure: ZstdError?
  /// Input accepted since the last flush: sizes the output space a flush asks for.
  private var bytesSinceFlush = 0

  /// The compression level.
  package let level: Int32
  /// The window log: the stream refers back at most `1 << windowLog` bytes.
  package let windowLog: Int32

  /// Creates a compression stream.
  ///
  /// - Parameters:
  ///   - level: the zstd compression level, `ZSTD_minCLevel()...ZSTD_maxCLevel()` (negative
  ///     levels are faster; 0 means libzstd's default, 3).
  ///   - windowLog: the window log, 10...31 on 64-bit platforms. It must not exceed the
  ///     `windowLogMax` the peer's decoder announced, or the peer refuses the stream.
  /// - Throws: ``ZstdError/Code/parameterOutOfBound`` for a level or window log out of range,
  ///   ``ZstdError/Code/memoryAllocation`` if libzstd cannot allocate a context.
  package init(level: Int32, windowLog: Int32) throws(ZstdError) {
    try Self.checkParameters(level: level, windowLog: windowLog)
    guard let context = ZSTD_createCCtx() else {
      throw ZstdError(code: .memoryAllocation, message: "cannot allocate a compression context")
    }
    do throws(ZstdError) {
      try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level))
      try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, windowLog))
      try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0))
      try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0))
    } catch {
      // `deinit` does not run for a value whose initializer throws.
      ZSTD_freeCCtx(context)
      throw error
    }
    self.context = context
    self.level = level
    self.windowLog = windowLog
  }

  deinit {
    ZSTD_freeCCtx(self.context)
  }

  /// Throws what ``init(level:windowLog:)`` throws for these parameters, without creating a
  /// context (for an owner that creates it only when it first has something to compress).
  package static func checkParameters(level: Int32, windowLog: Int32) throws(ZstdError) {
    try ZstdError.checkBounds(level, ZSTD_cParam_getBounds(ZSTD_c_compressionLevel), name: "compression level")
    try ZstdError.checkBounds(windowLog, ZSTD_cParam_getBounds(ZSTD_c_windowLog), name: "windowLog")
  }

  /// Bytes libzstd holds for this stream (`ZSTD_sizeof_CCtx`): context, window and buffers.
  ///
  /// Small until the first input arrives; libzstd allocates the window lazily.
  package var memoryUsage: Int {
    ZSTD_sizeof_CCtx(self.context)
  }

  /// Compresses all readable bytes of `input` into the stream, appending whatever compressed
  /// bytes are ready to `output` (often none: libzstd buffers input until a block fills or
  /// ``flush(into:)`` is called).
  ///
  /// `input` is not changed; `output` grows as needed.
  ///
  /// - Throws: a ``ZstdError`` if libzstd fails; the stream is then broken for good.
  package mutating func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(ZstdError) {
    let result = input.withUnsafeReadableBytes { bytes in
      Result { () throws(ZstdError) in try self.compress(bytes, into: &output) }
    }
    try result.get()
  }

  /// Compresses `input` into the stream, appending whatever compressed bytes are ready to
  /// `output` (often none until ``flush(into:)``).
  ///
  /// `input` is fully read before the call returns and is not retained.
  ///
  /// - Throws: a ``ZstdError`` if libzstd fails; the stream is then broken for good.
  package mutating func compress(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer) throws(ZstdError) {
    if let failure { throw failure }
    guard !input.isEmpty else { return }
    var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
    while source.pos < source.size {
      let space = Self.outputSpace(forInputBytes: source.size - source.pos)
      try self.step(&source, ZSTD_e_continue, into: &output, space: space)
    }
    self.bytesSinceFlush += input.count
  }

  /// Appends to `output` everything needed for the peer to decode all input so far
  /// (`ZSTD_e_flush`), ending the current block. The stream continues afterwards.
  ///
  /// Call once per write batch, not per message: each flush costs a few bytes of block
  /// framing. Flushing with nothing new compressed appends nothing.
  ///
  /// - Throws: a ``ZstdError`` if libzstd fails; the stream is then broken for good.
  package mutating func flush(into output: inout ByteBuffer) throws(ZstdError) {
    if let failure { throw failure }
    var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    // libzstd returns how many bytes it still has to write; 0 once all is flushed.
    while try self.step(&source, ZSTD_e_flush, into: &output, space: Self.outputSpace(forInputBytes: self.bytesSinceFlush)) != 0 {}
    self.bytesSinceFlush = 0
  }

  /// One `ZSTD_compressStream2` call writing into at least `space` free bytes of `output`.
  ///
  /// - Returns: libzstd's hint: for `ZSTD_e_flush`, the bytes still to be flushed.
  @discardableResult
  private mutating func step(
    _ source: inout ZSTD_inBuffer,
    _ directive: ZSTD_EndDirective,
    into output: inout ByteBuffer,
    space: Int
  ) throws(ZstdError) -> Int {
    let context = self.context
    var result = 0
    output.writeWithUnsafeMutableBytes(minimumWritableBytes: space) { destination in
      var sink = ZSTD_outBuffer(dst: destination.baseAddress, size: destination.count, pos: 0)
      result = ZSTD_compressStream2(context, &sink, &source, directive)
      return ZSTD_isError(result) != 0 ? 0 : sink.pos
    }
    if let error = ZstdError(result: result) {
      self.failure = error
      throw error
    }
    return result
  }

  /// Free output space to offer libzstd for `inputBytes` of pending input: the worst case for
  /// that input plus block and frame headers, never more than `ZSTD_CStreamOutSize()` (enough
  /// for one whole compressed block; larger output takes more rounds). Small messages thus
  /// never make the output buffer reserve 128 KiB.
  private static func outputSpace(forInputBytes inputBytes: Int) -> Int {
    let headers = 32
    return min(ZSTD_compressBound(inputBytes) + headers, ZSTD_CStreamOutSize())
  }
}
