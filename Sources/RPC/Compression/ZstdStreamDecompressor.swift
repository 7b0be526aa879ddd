import CZstd
package import NIOCore

/// The receiving half of a zstd-compressed connection: decodes the peer's continuous zstd
/// stream from whatever bytes the socket delivers, in bounded pieces.
///
/// The peer is not trusted. The decoder refuses any frame whose window exceeds `windowLogMax`
/// (the value this side announced), so a peer cannot make it allocate more than about
/// `1 << windowLogMax` bytes of history, and ``decompress(_:into:maxOutputBytes:)`` never
/// produces more than `maxOutputBytes` per call, so a few KiB of input cannot expand into
/// gigabytes at once. The caller pulls: it parses what one call produced, then calls again.
///
/// ## Ownership
///
/// A `~Copyable` struct rather than a final class, for the reasons given on
/// ``ZstdStreamCompressor``: the value owns one `ZSTD_DCtx` and frees it in `deinit` exactly
/// once; copies, which would share the context, do not compile. One channel handler on one
/// event loop owns it. It is not `Sendable`.
///
/// All calls are synchronous and run to completion; there is nothing to cancel.
package struct ZstdStreamDecompressor: ~Copyable {
  /// The `ZSTD_DCtx`, owned by this value.
  private let context: OpaquePointer
  /// The error that broke the stream, thrown again by every later call.
  private var failure: ZstdError?
  /// True when the last call filled its output, so libzstd may hold decoded bytes not yet
  /// handed out; false when libzstd has handed out everything the input so far allows.
  private var mayHoldOutput = false

  /// The largest window log accepted from the peer.
  package let windowLogMax: Int32

  /// Creates a decompression stream.
  ///
  /// - Parameter windowLogMax: the largest window log accepted, 10...31 on 64-bit platforms;
  ///   the value this side announced to the peer. A frame that needs a larger window fails
  ///   with ``ZstdError/Code/windowTooLarge`` ("Frame requires too much memory for decoding").
  /// - Throws: ``ZstdError/Code/parameterOutOfBound`` for a window log out of range,
  ///   ``ZstdError/Code/memoryAllocation`` if libzstd cannot allocate a context.
  package init(windowLogMax: Int32) throws(ZstdError) {
    try Self.checkParameters(windowLogMax: windowLogMax)
    guard let context = ZSTD_createDCtx() else {
      throw ZstdError(code: .memoryAllocation, message: "cannot allocate a decompression context")
    }
    do throws(ZstdError) {
      try ZstdError.check(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, windowLogMax))
    } catch {
      // `deinit` does not run for a value whose initializer throws.
      ZSTD_freeDCtx(context)
      throw error
    }
    self.context = context
    self.windowLogMax = windowLogMax
  }

  deinit {
    ZSTD_freeDCtx(self.context)
  }

  /// Throws what ``init(windowLogMax:)`` throws for this parameter, without creating a context
  /// (for an owner that creates it only when the first compressed bytes arrive).
  package static func checkParameters(windowLogMax: Int32) throws(ZstdError) {
    try ZstdError.checkBounds(windowLogMax, ZSTD_dParam_getBounds(ZSTD_d_windowLogMax), name: "windowLogMax")
  }

  /// Bytes libzstd holds for this stream (`ZSTD_sizeof_DCtx`): context, window and buffers.
  ///
  /// Small until the first frame header arrives; the window is sized from it, at most about
  /// `1 << windowLogMax` bytes plus one block.
  package var memoryUsage: Int {
    ZSTD_sizeof_DCtx(self.context)
  }

  /// Decodes bytes of the stream from `input` into `output`, appending at most
  /// `maxOutputBytes` new bytes.
  ///
  /// The call consumes as much of `input` as it can without exceeding the bound, moving
  /// `input`'s reader index past what libzstd took (libzstd keeps partial blocks internally).
  /// Bytes left in `input` must be passed again, with any newer bytes after them.
  ///
  /// Typical use, after each read from the socket:
  ///
  /// ```swift
  /// received.writeBuffer(&bytesFromSocket)
  /// var more = true
  /// while more {
  ///   more = try decompressor.decompress(&received, into: &plain, maxOutputBytes: 64 << 10)
  ///   try parseFrames(&plain)  // consume what arrived before asking for more
  /// }
  /// ```
  ///
  /// - Parameters:
  ///   - input: compressed bytes; its readable bytes are the input.
  ///   - output: receives the decoded bytes; grows as needed, by at most `maxOutputBytes`.
  ///   - maxOutputBytes: the most bytes this call appends; must be positive.
  /// - Returns: `true` if more output may be ready without new input (bytes remain in
  ///   `input`, or libzstd may hold decoded bytes): call again once `output` has been
  ///   processed. `false` if everything the input so far allows has been produced: wait for
  ///   more input. A `true` can be conservative; the next call then appends nothing and
  ///   returns `false`.
  /// - Throws: a ``ZstdError`` for input that is not a valid zstd stream or whose window
  ///   exceeds `windowLogMax`. The stream is then broken for good: every later call throws
  ///   the same error. Bytes decoded earlier in the failing call may already be in `output`
  ///   (still within the bound); they are valid, but the connection should end anyway.
  package mutating func decompress(
    _ input: inout ByteBuffer,
    into output: inout ByteBuffer,
    maxOutputBytes: Int
  ) throws(ZstdError) -> Bool {
    precondition(maxOutputBytes > 0, "maxOutputBytes must be positive")
    if let failure { throw failure }
    // Nothing to read and nothing held: calling libzstd would make no progress, and libzstd
    // fails a stream after repeated calls without progress.
    guard input.readableBytes > 0 || self.mayHoldOutput else { return false }

    let context = self.context
    var produced = 0
    var lastCallFilledOutput = false
    var failure: ZstdError?
    // Start with room for a typical expansion of the input; grow when libzstd fills it.
    var space = min(max(input.readableBytes * 4, 4096), ZSTD_DStreamOutSize())

    input.readWithUnsafeReadableBytes { bytes in
      var source = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
      while produced < maxOutputBytes {
        let budget = maxOutputBytes - produced
        let consumedBefore = source.pos
        var offered = 0
        var written = 0
        var result = 0
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: min(space, budget)) { destination in
          // Use any spare capacity the buffer already has, but never beyond the budget.
          offered = min(destination.count, budget)
          var sink = ZSTD_outBuffer(dst: destination.baseAddress, size: offered, pos: 0)
          result = ZSTD_decompressStream(context, &sink, &source)
          written = ZSTD_isError(result) != 0 ? 0 : sink.pos
          return written
        }
        if let error = ZstdError(result: result) {
          failure = error
          break
        }
        produced += written
        lastCallFilledOutput = written == offered
        if lastCallFilledOutput {
          // libzstd may hold more: offer more room while the budget lasts.
          space = min(space * 2, ZSTD_DStreamOutSize())
          continue
        }
        // Output not full: libzstd has handed out all it can from the input it took. Input
        // left over means a frame ended and another follows; go on unless nothing moved.
        if source.pos == source.size || (source.pos == consumedBefore && written == 0) {
          break
        }
      }
      return source.pos
    }

    if let failure {
      self.failure = failure
      throw failure
    }
    self.mayHoldOutput = lastCallFilledOutput
    return self.mayHoldOutput || input.readableBytes > 0
  }
}
