import CZstd

/// A failure of a zstd stream: an error from libzstd, or a parameter this module refused
/// before handing it to libzstd.
///
/// After ``ZstdStreamCompressor`` or ``ZstdStreamDecompressor`` throws one, that stream is
/// broken for good (libzstd leaves the context in an undefined state, and a connection's stream
/// cannot skip bytes), so every later call throws the same error; end the connection.
///
/// ``message`` is libzstd's name for the error (`ZSTD_getErrorName`), such as
/// "Frame requires too much memory for decoding", or names the refused parameter and its
/// range. It never contains stream data.
package struct ZstdError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What went wrong, as a libzstd error code (`ZSTD_ErrorCode`). Compare against the static
  /// members; other libzstd codes can appear too.
  package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The `ZSTD_ErrorCode` value. Stable across libzstd versions for the codes named here.
    package var rawValue: Int

    /// A code from its `ZSTD_ErrorCode` value.
    package init(rawValue: Int) {
      self.rawValue = rawValue
    }

    fileprivate init(_ code: ZSTD_ErrorCode) {
      self.rawValue = Int(code.rawValue)
    }

    /// The input declares a window larger than the decoder's `windowLogMax` allows.
    package static let windowTooLarge = Code(ZSTD_error_frameParameter_windowTooLarge)
    /// The input does not start with a zstd frame (bad magic number).
    package static let unknownFrame = Code(ZSTD_error_prefix_unknown)
    /// The input is damaged: a block, a table or a header does not decode.
    package static let corruptionDetected = Code(ZSTD_error_corruption_detected)
    /// A frame header uses a feature this decoder does not support.
    package static let unsupportedFrameParameter = Code(ZSTD_error_frameParameter_unsupported)
    /// A parameter (window log, level) is outside the range libzstd supports.
    package static let parameterOutOfBound = Code(ZSTD_error_parameter_outOfBound)
    /// libzstd could not allocate a context or its buffers.
    package static let memoryAllocation = Code(ZSTD_error_memory_allocation)

    /// libzstd's name for the code.
    package var description: String {
      String(cString: ZSTD_getErrorString(ZSTD_ErrorCode(rawValue: UInt32(truncatingIfNeeded: rawValue))))
    }
  }

  /// What went wrong.
  package var code: Code
  /// libzstd's name for the error, or which parameter was refused and why.
  package var message: String

  /// An error with the given code and message.
  package init(code: Code, message: String) {
    self.code = code
    self.message = message
  }

  /// "zstd: " and the message.
  package var description: String { "zstd: \(message)" }
}

extension ZstdError {
  /// Returns `result` if it is a size or hint, or throws the error it encodes.
  ///
  /// Most libzstd functions return a `size_t` that is either a value or an error code, told
  /// apart by `ZSTD_isError`.
  @discardableResult
  static func check(_ result: Int) throws(ZstdError) -> Int {
    if let error = ZstdError(result: result) { throw error }
    return result
  }

  /// The error a libzstd `size_t` result encodes, or `nil` if it is a value.
  init?(result: Int) {
    guard ZSTD_isError(result) != 0 else { return nil }
    self.init(code: Code(ZSTD_getErrorCode(result)), message: String(cString: ZSTD_getErrorName(result)))
  }

  /// Throws ``Code/parameterOutOfBound`` unless `value` lies within `bounds`.
  ///
  /// Checked here rather than left to libzstd because libzstd silently reads 0 as "default"
  /// for window logs and clamps levels, and a negotiated value must mean what it says.
  static func checkBounds(_ value: Int32, _ bounds: ZSTD_bounds, name: String) throws(ZstdError) {
    try check(bounds.error)
    guard (bounds.lowerBound...bounds.upperBound).contains(value) else {
      throw ZstdError(
        code: .parameterOutOfBound,
        message: "\(name) \(value) is outside \(bounds.lowerBound)...\(bounds.upperBound)"
      )
    }
  }
}
