/// Bytes one connection moved, counted from the handshake on. With compression `none` the
/// wire and plain counts match (the preface and handshake frames count in both).
public struct ConnectionStatistics: Hashable, Sendable {
  /// Bytes written to the socket.
  public var wireBytesSent = 0
  /// Bytes read from the socket.
  public var wireBytesReceived = 0
  /// Frame bytes sent, before compression.
  public var plainBytesSent = 0
  /// Frame bytes received, after decompression (the server's preface is not counted).
  public var plainBytesReceived = 0

  public init() {}
}
