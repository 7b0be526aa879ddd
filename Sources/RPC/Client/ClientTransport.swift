public import Messages
public import NIOCore

/// Something that carries calls: one connection (``RPCConnection``) today; a pool and an
/// in-process transport implement the same protocol, so generated clients work over any.
public protocol ClientTransport: Sendable {
  /// A unary call with encoded messages: returns the response bytes, or throws ``RPCError``.
  func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer

  /// A streaming call of any kind: `body` writes requests and reads responses through the
  /// call; the call is cancelled if `body` returns or throws before it ends.
  func withStreamingCall<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result
}

/// One streaming call, in encoded messages.
public protocol RawClientCall: Sendable {
  /// Sends a request message, suspending while the server has granted no credit for it.
  func send(_ message: ByteBuffer) async throws
  /// Tells the server no more requests follow.
  func closeSend() async throws
  /// The next response message; nil once the call ended with OK; throws ``RPCError`` when it
  /// ended otherwise.
  func receive() async throws -> ByteBuffer?
  /// The response headers (empty if the server sent none), once known.
  func responseHeaders() async throws -> Metadata
  /// The trailing metadata, once the call ended with OK.
  var trailingMetadata: Metadata { get }
  /// The limits for decoding response messages.
  var decodingLimits: ProtoDecodingLimits { get }
}

extension ClientTransport {
  /// A typed unary call.
  public func unary<M: ProtoMethod>(_ method: M.Type, _ request: M.Input, options: CallOptions = .init()) async throws
    -> M.Output
  {
    let bytes = try await unary(method: M.descriptor, request: try encode(request), options: options)
    do {
      return try M.Output(decoding: bytes)
    } catch {
      throw RPCError.undecodableResponse(error)
    }
  }

  /// A typed server-streaming call: `responses` reads the stream.
  public func serverStreaming<M: ProtoMethod, Result: Sendable>(
    _ method: M.Type, _ request: M.Input, options: CallOptions = .init(),
    responses: (ResponseStream<M.Output>) async throws -> Result
  ) async throws -> Result {
    let bytes = try encode(request)
    return try await withStreamingCall(method: M.descriptor, options: options) { call in
      try await call.send(bytes)
      try await call.closeSend()
      return try await responses(ResponseStream(call: call))
    }
  }

  /// A typed client-streaming call: `requests` writes the stream; returns the one response.
  public func clientStreaming<M: ProtoMethod>(
    _ method: M.Type, options: CallOptions = .init(),
    requests: (RequestStreamWriter<M.Input>) async throws -> Void
  ) async throws -> M.Output {
    try await withStreamingCall(method: M.descriptor, options: options) { call in
      try await requests(RequestStreamWriter(call: call))
      try await call.closeSend()
      var stream = ResponseStream<M.Output>(call: call).makeAsyncIterator()
      guard let response = try await stream.next() else {
        throw RPCError(code: .internal, message: "the server ended a client-streaming call without a response")
      }
      _ = try await stream.next()  // read the trailers
      return response
    }
  }

  /// A typed bidirectional call: `requests` writes (then the request side closes) while
  /// `responses` reads, concurrently.
  public func bidirectionalStreaming<M: ProtoMethod, Result: Sendable>(
    _ method: M.Type, options: CallOptions = .init(),
    requests: @escaping @Sendable (RequestStreamWriter<M.Input>) async throws -> Void,
    responses: (ResponseStream<M.Output>) async throws -> Result
  ) async throws -> Result {
    try await withStreamingCall(method: M.descriptor, options: options) { call in
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          try await requests(RequestStreamWriter(call: call))
          try await call.closeSend()
        }
        let result = try await responses(ResponseStream(call: call))
        try await group.waitForAll()
        return result
      }
    }
  }
}

func encode(_ message: some ProtoMessage) throws -> ByteBuffer {
  var buffer = ByteBuffer()
  do {
    try message.encode(into: &buffer)
  } catch {
    throw RPCError(code: .invalidArgument, message: "request message could not be encoded: \(error)")
  }
  return buffer
}

/// The responses of a streaming call, decoded as they are read. Reading grants the server
/// flow-control credit; a reader that stops stops the server after one call window.
public struct ResponseStream<Message: ProtoMessage>: AsyncSequence, Sendable {
  public typealias Element = Message
  let call: any RawClientCall

  /// The response headers the server sent (empty if none).
  public func headers() async throws -> Metadata { try await call.responseHeaders() }

  /// The trailing metadata, after the stream ended.
  public var trailingMetadata: Metadata { call.trailingMetadata }

  public struct AsyncIterator: AsyncIteratorProtocol {
    let call: any RawClientCall

    public mutating func next() async throws -> Message? {
      guard let bytes = try await call.receive() else { return nil }
      do {
        return try Message(decoding: bytes, limits: call.decodingLimits)
      } catch {
        throw RPCError.undecodableResponse(error)
      }
    }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }
}

/// Where a client writes the requests of a streaming call.
public struct RequestStreamWriter<Message: ProtoMessage>: Sendable {
  let call: any RawClientCall

  /// Sends one request, suspending while the server has granted no credit for it.
  public func write(_ message: Message) async throws {
    try await call.send(try encode(message))
  }
}
