import Messages

extension ProtoCallKind {
  /// `unary`, `server streaming`...
  var displayName: String {
    switch self {
    case .unary: "unary"
    case .serverStreaming: "server streaming"
    case .clientStreaming: "client streaming"
    case .bidirectionalStreaming: "bidirectional streaming"
    }
  }

  /// Whether the caller sends a stream of requests.
  var streamsRequests: Bool { self == .clientStreaming || self == .bidirectionalStreaming }
  /// Whether the server sends a stream of responses.
  var streamsResponses: Bool { self == .serverStreaming || self == .bidirectionalStreaming }
}
