public import Messages
import NIOCore

/// The messages a caller streams to a handler, decoded as they are read.
///
/// Reading is what grants the caller more flow-control credit: a handler that stops reading
/// stops the caller after one call window.
public struct RequestStream<Message: ProtoMessage>: AsyncSequence, Sendable {
  public typealias Element = Message
  let source: MessageSource

  public struct AsyncIterator: AsyncIteratorProtocol {
    let source: MessageSource

    public mutating func next() async throws -> Message? {
      guard let bytes = try await source.next() else { return nil }
      do {
        return try Message(decoding: bytes, limits: source.limits)
      } catch {
        throw RPCError.undecodableRequest(error, limits: source.limits)
      }
    }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }
}

/// The transport side of one server call: where its requests come from and its responses go.
/// A socket connection (``ServerCall``) and the in-process transport implement it.
protocol ServerCallStream: AnyObject, Sendable {
  /// The next request message, nil after the caller half-closed; reading it grants the caller
  /// flow-control credit. Throws once the call has ended.
  func nextRequest() async throws -> ByteBuffer?
  /// Sends one response message, suspending while the caller has granted no credit for it.
  func send(_ bytes: ByteBuffer) async throws
  /// Sends response headers (at most once, before any message).
  func sendHeaders(_ metadata: Metadata) async throws
  /// The status the caller was given when the call ended before its handler did (the deadline
  /// passed, the caller cancelled with a reason, the connection closed); nil until then. Metrics
  /// and logs record it instead of what the cancelled handler returned.
  var endedEarly: RPCStatusCode? { get }
}

extension ServerCallStream {
  var endedEarly: RPCStatusCode? { nil }
}

/// Raw messages in.
struct MessageSource: Sendable {
  let call: any ServerCallStream
  let limits: ProtoDecodingLimits

  func next() async throws -> ByteBuffer? { try await call.nextRequest() }
}

/// Where a handler writes the messages of a streaming response.
///
/// `write` returns once the message is handed to the connection; it suspends while the caller
/// has not granted flow-control credit for it, and throws when the call has ended (cancelled,
/// deadline passed, connection closed).
public struct ResponseStreamWriter<Message: ProtoMessage>: Sendable {
  let sink: MessageSink

  /// Sends one message.
  public func write(_ message: Message) async throws {
    var buffer = ByteBuffer()
    do {
      try message.encode(into: &buffer)
    } catch {
      throw RPCError(code: .internal, message: "response message could not be encoded: \(error)")
    }
    try await sink.send(buffer)
  }

  /// Sends response headers before the first message (at most once, before any message).
  public func writeHeaders(_ metadata: Metadata) async throws {
    try await sink.sendHeaders(metadata)
  }
}

/// Raw messages out.
struct MessageSink: Sendable {
  let call: any ServerCallStream

  func send(_ buffer: ByteBuffer) async throws { try await call.send(buffer) }

  func sendHeaders(_ metadata: Metadata) async throws { try await call.sendHeaders(metadata) }
}
