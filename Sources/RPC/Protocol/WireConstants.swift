/// Numbers fixed by docs/PROTOCOL.md. Every multi-byte integer on the wire is big-endian.
enum Wire {
  /// "EMPRPC" followed by the protocol version as a 16-bit integer.
  static let magic: [UInt8] = Array("EMPRPC".utf8)
  static let version: UInt16 = 1
  static let prefaceLength = 8
  /// length (4) + type (1) + flags (1) + call id (4).
  static let frameHeaderLength = 10
  /// The size of one setting: id (2) + value (4).
  static let settingLength = 6
}

/// Frame types.
enum FrameType: UInt8, Hashable, Sendable, CaseIterable {
  case settings = 0x0
  case headers = 0x1
  case message = 0x2
  case halfClose = 0x3
  case trailers = 0x4
  case cancel = 0x5
  case credit = 0x6
  case ping = 0x7
  case goAway = 0x8
}

/// Frame flags (their meaning depends on the frame type).
enum FrameFlag {
  /// SETTINGS, PING: this frame acknowledges the peer's.
  static let ack: UInt8 = 0x01
  /// MESSAGE: the sender sends nothing more on this call after this message (half-close).
  static let endStream: UInt8 = 0x01
  /// MESSAGE: the message continues in the next MESSAGE frame of the same call.
  static let more: UInt8 = 0x02
  /// TRAILERS: the server refused the call without processing any of it; safe to retry.
  static let refused: UInt8 = 0x01
}

/// Connection error codes, sent in GOAWAY.
public enum ConnectionErrorCode: UInt32, Hashable, Sendable, CustomStringConvertible {
  case noError = 0
  case protocolError = 1
  case internalError = 2
  case flowControlError = 3
  case settingsTimeout = 4
  case frameSizeError = 5
  case compressionError = 6
  case enhanceYourCalm = 7
  case unsupportedVersion = 8
  case keepaliveTimeout = 9

  public var description: String {
    switch self {
    case .noError: "NO_ERROR"
    case .protocolError: "PROTOCOL_ERROR"
    case .internalError: "INTERNAL_ERROR"
    case .flowControlError: "FLOW_CONTROL_ERROR"
    case .settingsTimeout: "SETTINGS_TIMEOUT"
    case .frameSizeError: "FRAME_SIZE_ERROR"
    case .compressionError: "COMPRESSION_ERROR"
    case .enhanceYourCalm: "ENHANCE_YOUR_CALM"
    case .unsupportedVersion: "UNSUPPORTED_VERSION"
    case .keepaliveTimeout: "KEEPALIVE_TIMEOUT"
    }
  }
}
