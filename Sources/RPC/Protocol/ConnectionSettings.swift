/// What one side of a connection announces in its SETTINGS frame: the limits it enforces on
/// what it receives, and (for compression) what it can do.
public struct ConnectionSettings: Hashable, Sendable {
  /// Compression algorithms for a connection's byte streams.
  public enum Compression: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Frames travel as they are.
    case none = 0
    /// Each direction is one zstd stream, flushed at the end of every write batch.
    case zstd = 1

    var bit: UInt32 { 1 << UInt32(rawValue) }

    public var description: String { self == .none ? "none" : "zstd" }
  }

  /// Setting identifiers (docs/PROTOCOL.md, "Settings").
  enum Identifier: UInt16, CaseIterable {
    case maxFrameSize = 0x1
    case maxConcurrentCalls = 0x2
    case initialCallWindow = 0x3
    case compression = 0x4
    case zstdWindowLogMax = 0x5
    case maxHeaderSize = 0x6
    case maxMessageSize = 0x7
    case metadataTableSize = 0x8
  }

  /// The largest METADATA_TABLE_SIZE a side may announce.
  static let maxMetadataTableSize: UInt32 = 256

  /// The largest frame payload this side accepts. Default 64 KiB; 1 KiB to 16 MiB.
  public var maxFrameSize: UInt32 = 64 << 10
  /// The most calls this side lets the peer have open at once. Default 512.
  public var maxConcurrentCalls: UInt32 = 512
  /// Message bytes per call the peer may send before this side grants credit. Default 64 KiB.
  public var initialCallWindow: UInt32 = 64 << 10
  /// Algorithms offered (client) or the one chosen (server), as a bit set by raw value.
  public var compression: Set<Compression> = [.none, .zstd]
  /// The largest zstd window (as a power of two) this side decodes. Default 17 (128 KiB).
  public var zstdWindowLogMax: UInt32 = 17
  /// The largest HEADERS or TRAILERS payload (path and metadata) accepted. Default 16 KiB.
  public var maxHeaderSize: UInt32 = 16 << 10
  /// The largest message accepted. Default 4 MiB.
  public var maxMessageSize: UInt32 = 4 << 20
  /// Metadata entries this side keeps per connection for the peer's calls to name by index
  /// (docs/PROTOCOL.md §7.1). Default 0: none (a client's default); servers announce
  /// ``RPCServer/Configuration``'s 16. 0 to 256.
  public var metadataTableSize: UInt32 = 0

  public init() {}

  /// The SETTINGS payload. METADATA_TABLE_SIZE goes out only when there is a table (absent
  /// means 0).
  func encode() -> [(UInt16, UInt32)] {
    var pairs: [(UInt16, UInt32)] = [
      (Identifier.maxFrameSize.rawValue, maxFrameSize),
      (Identifier.maxConcurrentCalls.rawValue, maxConcurrentCalls),
      (Identifier.initialCallWindow.rawValue, initialCallWindow),
      (Identifier.compression.rawValue, compression.reduce(0) { $0 | $1.bit }),
      (Identifier.zstdWindowLogMax.rawValue, zstdWindowLogMax),
      (Identifier.maxHeaderSize.rawValue, maxHeaderSize),
      (Identifier.maxMessageSize.rawValue, maxMessageSize),
    ]
    if metadataTableSize > 0 { pairs.append((Identifier.metadataTableSize.rawValue, metadataTableSize)) }
    return pairs
  }

  /// Applies received settings to the defaults. Unknown identifiers are ignored; values out of
  /// range are a protocol error (the message names the setting).
  static func decode(_ pairs: [(UInt16, UInt32)]) throws(ProtocolViolation) -> ConnectionSettings {
    var settings = ConnectionSettings()
    for (id, value) in pairs {
      switch Identifier(rawValue: id) {
      case .maxFrameSize:
        guard (1024...(16 << 20)).contains(value) else { throw .init(.protocolError, "MAX_FRAME_SIZE \(value) out of range") }
        settings.maxFrameSize = value
      case .maxConcurrentCalls: settings.maxConcurrentCalls = value
      case .initialCallWindow:
        guard (1...Int32.max.magnitude).contains(value) else { throw .init(.protocolError, "INITIAL_CALL_WINDOW \(value) out of range") }
        settings.initialCallWindow = value
      case .compression:
        settings.compression = Set(Compression.allCases.filter { value & $0.bit != 0 })
        guard !settings.compression.isEmpty else { throw .init(.protocolError, "COMPRESSION offers nothing") }
      case .zstdWindowLogMax:
        guard (10...31).contains(value) else { throw .init(.protocolError, "ZSTD_WINDOW_LOG_MAX \(value) out of range") }
        settings.zstdWindowLogMax = value
      case .maxHeaderSize: settings.maxHeaderSize = value
      case .maxMessageSize: settings.maxMessageSize = value
      case .metadataTableSize:
        guard value <= maxMetadataTableSize else { throw .init(.protocolError, "METADATA_TABLE_SIZE \(value) out of range") }
        settings.metadataTableSize = value
      case nil: continue
      }
    }
    return settings
  }
}

/// A broken rule of the protocol: the connection ends with GOAWAY carrying `code`.
struct ProtocolViolation: Error, Hashable, Sendable, CustomStringConvertible {
  var code: ConnectionErrorCode
  var message: String

  init(_ code: ConnectionErrorCode, _ message: String) {
    self.code = code
    self.message = message
  }

  var description: String { "\(code): \(message)" }
}
