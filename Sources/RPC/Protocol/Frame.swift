import NIOCore

/// What a call's opening HEADERS frame carries (client to server).
struct CallOpen: Hashable, Sendable {
  /// `/package.Service/Method` in UTF-8 (valid UTF-8). A received call keeps a slice of its
  /// frame: the server finds the method by these bytes (``RPCRouter/subscript(pathBytes:)``)
  /// and makes a `String` of them only when it needs one (``path``).
  var pathBytes: ByteBuffer
  /// The caller's remaining time, in microseconds; nil when the call has no deadline.
  var timeoutMicroseconds: UInt64?
  var metadata: Metadata

  init(pathBytes: ByteBuffer, timeoutMicroseconds: UInt64?, metadata: Metadata) {
    self.pathBytes = pathBytes
    self.timeoutMicroseconds = timeoutMicroseconds
    self.metadata = metadata
  }

  init(path: String, timeoutMicroseconds: UInt64?, metadata: Metadata) {
    self.init(pathBytes: ByteBuffer(string: path), timeoutMicroseconds: timeoutMicroseconds, metadata: metadata)
  }

  /// `/package.Service/Method` (a new string on each access).
  var path: String { String(buffer: pathBytes) }
}

/// What a TRAILERS frame carries: how a call ended.
struct Trailers: Hashable, Sendable {
  var code: RPCStatusCode
  var message: String
  /// An encoded `emporium.rpc.v1.ErrorDetails`, empty when there are none.
  var details: [UInt8]
  var metadata: Metadata
  var refused: Bool
}

/// One decoded frame.
enum Frame: Hashable, Sendable {
  case settings(ack: Bool, values: [Setting])
  case callOpen(callID: UInt32, CallOpen)
  /// A HEADERS frame larger than the receiver's MAX_HEADER_SIZE (its payload was skipped).
  case oversizedHeaders(callID: UInt32, size: Int)
  case responseHeaders(callID: UInt32, Metadata)
  case message(callID: UInt32, ByteBuffer, endStream: Bool, more: Bool)
  case halfClose(callID: UInt32)
  case trailers(callID: UInt32, Trailers)
  case cancel(callID: UInt32, code: UInt32)
  case credit(callID: UInt32, increment: UInt32)
  case ping(ack: Bool, payload: UInt64)
  case goAway(lastCallID: UInt32, code: UInt32, debug: String)

  struct Setting: Hashable, Sendable {
    var id: UInt16
    var value: UInt32
  }
}
