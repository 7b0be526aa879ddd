import CZstd

extension ZstdStreamCompressor {
  /// Compresses `bytes` as one complete, independent zstd frame (`ZSTD_compress`).
  ///
  /// Not used on connections, which send one continuous stream; this is the baseline that
  /// benchmarks compare the stream against (each message compressed on its own, with no
  /// shared history and a frame header each). Any zstd decoder, including a fresh
  /// ``ZstdStreamDecompressor``, decodes the result.
  ///
  /// - Parameters:
  ///   - bytes: the whole input.
  ///   - level: the zstd compression level; libzstd clamps it to its supported range.
  /// - Returns: the frame, at most `ZSTD_compressBound(bytes.count)` bytes.
  package static func compressFrame(_ bytes: UnsafeRawBufferPointer, level: Int32) -> [UInt8] {
    let bound = ZSTD_compressBound(bytes.count)
    return [UInt8](unsafeUninitializedCapacity: bound) { frame, count in
      let result = ZSTD_compress(frame.baseAddress, frame.count, bytes.baseAddress, bytes.count, level)
      // With a destination of `ZSTD_compressBound` bytes and a clamped level, libzstd fails only
      // when it cannot allocate, which Swift treats as fatal everywhere else too.
      precondition(ZSTD_isError(result) == 0, "ZSTD_compress failed: \(String(cString: ZSTD_getErrorName(result)))")
      count = result
    }
  }

  /// Compresses `bytes` as one complete, independent zstd frame; see
  /// the `UnsafeRawBufferPointer` overload.
  package static func compressFrame(_ bytes: [UInt8], level: Int32) -> [UInt8] {
    bytes.withUnsafeBytes { compressFrame($0, level: level) }
  }
}
