import EchoBenchCZstd

/// What a connection's zstd contexts hold at each window log, and what a smaller window costs in
/// compression: measured in-process with libzstd's own accounting (`ZSTD_sizeof_CCtx`,
/// `ZSTD_sizeof_DCtx`), with the parameters Emporium's `ZstdStreamCompressor` and
/// `ZstdStreamDecompressor` set (level 1, the window log, no checksum, no content size;
/// `ZSTD_d_windowLogMax`).
///
/// A connection with zstd has one compressor and one decompressor on each side, each created
/// when it is first needed (the first batch to compress, the first compressed bytes received),
/// so "fresh" is what a context costs from its first message on. libzstd allocates a compressor's window, hash tables and buffers on the first
/// input, and a decompressor's window buffer on the first frame; the decompressor context
/// itself is large from the start (its entropy tables and literal buffer).
enum ZstdContextSizes {
  struct Row: Codable, Sendable {
    var windowLog: Int32
    /// Bytes right after creation and parameters.
    var compressorFresh: Int
    /// Bytes after the first message (a 100 B echo response) was compressed and flushed
    /// (decompressor: decoded): from then on the window and buffers are allocated.
    var compressorInUse: Int
    var decompressorFresh: Int
    var decompressorInUse: Int
    /// Compression ratio of each message set (streaming, flush per message) at this window.
    var ratios: [Double]
  }

  /// Message-set names, in the order of ``Row/ratios``.
  static func names() throws -> [String] { try ZstdStreamingComparison.messageSets().map(\.0) }

  static func run(windowLogs: [Int32]) throws -> [Row] {
    let sets = try ZstdStreamingComparison.messageSets()
    return try windowLogs.map { windowLog in
      let first = sets[0].1[0]
      let (compressorFresh, compressorInUse, chunk) = try compressorSizes(windowLog: windowLog, message: first)
      let (decompressorFresh, decompressorInUse) = try decompressorSizes(windowLog: windowLog, chunk: chunk)
      let ratios = try sets.map { _, messages in
        let plain = messages.reduce(0) { $0 + $1.count }
        let compressed = try ZstdStreamingComparison.compressStreaming(messages, windowLog: windowLog)
        return Double(plain) / Double(compressed.reduce(0) { $0 + $1.count })
      }
      return Row(
        windowLog: windowLog, compressorFresh: compressorFresh, compressorInUse: compressorInUse,
        decompressorFresh: decompressorFresh, decompressorInUse: decompressorInUse, ratios: ratios)
    }
  }

  private static func compressorSizes(windowLog: Int32, message: [UInt8]) throws -> (Int, Int, [UInt8]) {
    let context = try ZstdStreamingComparison.makeStreamingCompressor(windowLog: windowLog)
    defer { ZSTD_freeCCtx(context) }
    let fresh = ZSTD_sizeof_CCtx(context)
    var output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
    let chunk = try ZstdStreamingComparison.compressAndFlush(message, with: context, output: &output)
    return (fresh, ZSTD_sizeof_CCtx(context), chunk)
  }

  private static func decompressorSizes(windowLog: Int32, chunk: [UInt8]) throws -> (Int, Int) {
    guard let context = ZSTD_createDCtx() else { throw ZstdStreamingComparison.Failure(description: "ZSTD_createDCtx") }
    defer { ZSTD_freeDCtx(context) }
    try ZstdStreamingComparison.check(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, windowLog), "windowLogMax")
    let fresh = ZSTD_sizeof_DCtx(context)
    var output = [UInt8](repeating: 0, count: 64 << 10)
    try output.withUnsafeMutableBytes { target in
      try chunk.withUnsafeBytes { source in
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        var out = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
        while input.pos < input.size {
          try ZstdStreamingComparison.check(ZSTD_decompressStream(context, &out, &input), "ZSTD_decompressStream")
        }
      }
    }
    return (fresh, ZSTD_sizeof_DCtx(context))
  }
}
