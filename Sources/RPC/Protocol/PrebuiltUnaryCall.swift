package import NIOCore

/// One unary call's frames, built once and written again for every call with only the call id
/// changed: the HEADERS frame that opens the call (path, timeout, no metadata) and one MESSAGE
/// with END_STREAM. A load generator's connection sends these (loadgen's `prebuilt` call path);
/// a server cannot tell them from the frames ``RPCConnection`` writes for the same call, since
/// they are written by the same encoder.
///
/// Also the few pieces of the protocol such a connection needs beside them: its half of the
/// handshake, and the header of a received frame. Everything here is docs/PROTOCOL.md's.
package struct PrebuiltUnaryCall: Sendable {
  /// The frames with call id 0.
  private let frames: ByteBuffer
  /// Where the MESSAGE frame's call id sits in `frames` (the HEADERS frame's is at 6).
  private let messageCallIDOffset: Int
  /// The request message's size.
  package let requestBytes: Int
  /// The deadline every call carries, from when it is sent; nil for none.
  package let timeout: Duration?

  /// - Parameters:
  ///   - path: `/package.Service/Method`.
  ///   - timeout: the deadline every call carries (the HEADERS' timeout, the caller's remaining
  ///     time as the RPC client writes it); nil or not positive for none.
  package init(path: String, timeout: Duration?, request: ByteBuffer) {
    let timeout = timeout.flatMap { $0 > .zero ? $0 : nil }
    var frames = ByteBuffer()
    FrameEncoder.writeCallOpen(
      callID: 0, CallOpen(path: path, timeoutMicroseconds: timeout?.wireTimeoutMicroseconds, metadata: Metadata()),
      into: &frames)
    messageCallIDOffset = frames.writerIndex + 6
    FrameEncoder.writeMessage(callID: 0, request, endStream: true, more: false, into: &frames)
    self.frames = frames
    requestBytes = request.readableBytes
    self.timeout = timeout
  }

  /// The HEADERS frame's payload size (what the server's MAX_HEADER_SIZE limits).
  package var headerBytes: Int { messageCallIDOffset - 6 - Wire.frameHeaderLength }

  /// Whether a server that announced `settings` takes the call as built: its HEADERS within the
  /// server's header limit, and the request in one frame and within its first window and its
  /// message limit (so the connection never waits for CREDIT). Nil when it does, or why not.
  package func unsuitability(for settings: ConnectionSettings) -> String? {
    if headerBytes > HeaderLimits.payloadLimit(settings) {
      return "the call's HEADERS (\(headerBytes) bytes) exceed the server's header limit"
    }
    if requestBytes > Int(settings.maxFrameSize) { return "the request (\(requestBytes) bytes) needs more than one frame" }
    if requestBytes > Int(settings.initialCallWindow) {
      return "the request (\(requestBytes) bytes) exceeds the server's initial call window"
    }
    if requestBytes > Int(settings.maxMessageSize) { return "the request (\(requestBytes) bytes) exceeds the server's message limit" }
    return nil
  }

  /// Appends the call's frames with `callID`.
  @inline(__always)
  package func write(callID: UInt32, into buffer: inout ByteBuffer) {
    let start = buffer.writerIndex
    var frames = self.frames
    buffer.writeBuffer(&frames)
    buffer.setInteger(callID, at: start + 6)
    buffer.setInteger(callID, at: start + messageCallIDOffset)
  }

  // MARK: The rest of the protocol such a connection speaks

  /// The client's opening: its preface and SETTINGS frame (docs/PROTOCOL.md §2).
  package static func clientOpening(_ settings: ConnectionSettings) -> ByteBuffer {
    var buffer = ByteBuffer()
    FrameEncoder.writePreface(into: &buffer)
    FrameEncoder.writeSettings(settings, into: &buffer)
    return buffer
  }

  /// The server's opening (preface, then SETTINGS) read off the front of `buffer`: nil until
  /// all of it has arrived; throws a description of what is wrong with it.
  package static func readServerOpening(_ buffer: inout ByteBuffer) throws(PrebuiltCallError) -> ConnectionSettings? {
    guard buffer.readableBytes >= Wire.prefaceLength else { return nil }
    let start = buffer.readerIndex
    guard buffer.getBytes(at: start, length: Wire.magic.count) == Wire.magic else {
      throw PrebuiltCallError("the server did not answer with the protocol's preface")
    }
    let version = buffer.getInteger(at: start + Wire.magic.count, as: UInt16.self)!
    guard version == Wire.version else { throw PrebuiltCallError("the server speaks protocol version \(version)") }
    var rest = buffer
    rest.moveReaderIndex(forwardBy: Wire.prefaceLength)
    guard let header = FrameHeader.read(&rest) else { return nil }
    if header.type == FrameType.goAway.rawValue, rest.readableBytes >= Int(header.length) {
      let code = rest.getInteger(at: rest.readerIndex + 4, as: UInt32.self).map { ConnectionErrorCode(rawValue: $0) }
      throw PrebuiltCallError("the server refused the connection (GOAWAY \(code.flatMap { $0.map { "\($0)" } } ?? "?"))")
    }
    guard header.type == FrameType.settings.rawValue, header.flags & FrameFlag.ack == 0, header.length % 6 == 0 else {
      throw PrebuiltCallError("the server's first frame was not SETTINGS")
    }
    guard rest.readableBytes >= Int(header.length) else { return nil }
    var pairs: [(UInt16, UInt32)] = []
    for _ in 0..<Int(header.length) / 6 {
      pairs.append((rest.readInteger(as: UInt16.self)!, rest.readInteger(as: UInt32.self)!))
    }
    let settings: ConnectionSettings
    do {
      settings = try ConnectionSettings.decode(pairs)
    } catch {
      throw PrebuiltCallError("the server's SETTINGS: \(error.message)")
    }
    buffer = rest
    return settings
  }

  /// SETTINGS with ACK: the end of the client's handshake.
  package static func settingsAck(into buffer: inout ByteBuffer) { FrameEncoder.writeSettingsAck(into: &buffer) }

  /// CANCEL for a call whose caller gave up at its deadline.
  package static func cancelAtDeadline(callID: UInt32, into buffer: inout ByteBuffer) {
    FrameEncoder.writeCancel(callID: callID, code: .deadlineExceeded, into: &buffer)
  }

  /// The answer to a PING.
  package static func pingAck(_ payload: UInt64, into buffer: inout ByteBuffer) {
    FrameEncoder.writePing(ack: true, payload: payload, into: &buffer)
  }

  /// The 10-byte header of a received frame (docs/PROTOCOL.md §3.1).
  package struct FrameHeader {
    package var length: UInt32
    package var type: UInt8
    package var flags: UInt8
    package var callID: UInt32

    /// Reads a header off the front of `buffer`, or nil (reading nothing) when fewer than 10
    /// bytes are there.
    @inline(__always)
    package static func read(_ buffer: inout ByteBuffer) -> FrameHeader? {
      guard buffer.readableBytes >= Wire.frameHeaderLength else { return nil }
      let start = buffer.readerIndex
      let header = FrameHeader(
        length: buffer.getInteger(at: start, as: UInt32.self)!, type: buffer.getInteger(at: start + 4, as: UInt8.self)!,
        flags: buffer.getInteger(at: start + 5, as: UInt8.self)!, callID: buffer.getInteger(at: start + 6, as: UInt32.self)!)
      buffer.moveReaderIndex(forwardBy: Wire.frameHeaderLength)
      return header
    }
  }

  /// Frame types and flags a prebuilt call's connection reads (docs/PROTOCOL.md §3.2, §3.3).
  package enum Kind {
    package static let settings = FrameType.settings.rawValue
    package static let headers = FrameType.headers.rawValue
    package static let message = FrameType.message.rawValue
    package static let trailers = FrameType.trailers.rawValue
    package static let cancel = FrameType.cancel.rawValue
    package static let credit = FrameType.credit.rawValue
    package static let ping = FrameType.ping.rawValue
    package static let goAway = FrameType.goAway.rawValue
    package static let ackFlag = FrameFlag.ack
    package static let moreFlag = FrameFlag.more
  }
}

/// What went wrong with a prebuilt call's connection (its handshake, or a frame it cannot read).
package struct PrebuiltCallError: Error, CustomStringConvertible {
  package let description: String
  /// The server speaks the protocol, but cannot take the call as built
  /// (``PrebuiltUnaryCall/unsuitability(for:)``): the same call through the RPC client can.
  package let unsuitable: Bool

  package init(_ description: String, unsuitable: Bool = false) {
    self.description = description
    self.unsuitable = unsuitable
  }
}
