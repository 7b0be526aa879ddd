import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TestSupport
import RPCTestSupport
import Testing

@testable import RPC

/// A hand-driven client for sending what a well-behaved client never would.
final class RawPeer: Sendable {
  let channel: any Channel
  private let inbox: Inbox

  /// Collects everything the server sends.
  final class Inbox: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let bytes = NIOLockedValueBox(ByteBuffer())
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      var incoming = unwrapInboundIn(data)
      bytes.withLockedValue { $0.writeBuffer(&incoming) }
    }
  }

  private init(channel: any Channel, inbox: Inbox) {
    self.channel = channel
    self.inbox = inbox
  }

  static func connect(port: Int, autoRead: Bool = true) async throws -> RawPeer {
    let inbox = Inbox()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelOption(.autoRead, value: autoRead)
      .channelOption(.socketOption(.so_rcvbuf), value: 4096)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(inbox) }
      }
      .connect(host: "127.0.0.1", port: port)
      .get()
    return RawPeer(channel: channel, inbox: inbox)
  }

  func send(_ bytes: [UInt8]) async throws {
    try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
  }

  func send(_ write: (inout ByteBuffer) -> Void) async throws {
    var buffer = ByteBuffer()
    write(&buffer)
    try await channel.writeAndFlush(buffer)
  }

  /// Preface and SETTINGS offering no compression, then the ACK once the server answered.
  func handshake(settings: ConnectionSettings = { var s = ConnectionSettings(); s.compression = [.none]; return s }())
    async throws
  {
    try await send { buffer in
      FrameEncoder.writePreface(into: &buffer)
      FrameEncoder.writeSettings(settings, into: &buffer)
    }
    try await waitUntil { $0.readableBytes >= Wire.prefaceLength + Wire.frameHeaderLength }
    try await send { FrameEncoder.writeSettingsAck(into: &$0) }
  }

  /// Everything received so far.
  var received: ByteBuffer { inbox.bytes.withLockedValue { $0 } }

  /// The frames received after the server's preface (uncompressed connections).
  func frames() throws -> [Frame] {
    var bytes = received
    guard bytes.readableBytes >= Wire.prefaceLength else { return [] }
    bytes.moveReaderIndex(forwardBy: Wire.prefaceLength)
    var decoder = FrameDecoder(role: .client, maxFrameSize: 16 << 20, maxHeaderSize: 1 << 20)
    decoder.append(bytes)
    var frames: [Frame] = []
    while let frame = try decoder.next() { frames.append(frame) }
    return frames
  }

  /// The GOAWAY code the server sent, if any.
  func goAwayCode() throws -> ConnectionErrorCode? {
    for case .goAway(_, let code, _) in try frames() { return ConnectionErrorCode(rawValue: code) }
    return nil
  }

  func waitUntil(timeout: Duration = .seconds(10), _ condition: (ByteBuffer) -> Bool) async throws {
    guard await eventually(within: timeout, { condition(received) }) else { throw TimeoutError() }
  }

  /// Returns whether the server closed the connection within `timeout`.
  func closedByServer(within timeout: Duration = .seconds(10)) async -> Bool {
    await eventually(within: timeout) { !channel.isActive }
  }

  func close() async { try? await channel.close() }

  struct TimeoutError: Error {}
}

/// A fresh connection can still make a call: the server survived.
func expectServerStillServes(port: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
  try await withConnection(port: port) { connection in
    let response = try await RpcV1EchoClient(connection).echo(.with { $0.message = "alive" })
    #expect(response.message == "alive", sourceLocation: sourceLocation)
  }
}

import Messages

typealias RpcV1EchoClient = RpcV1.EchoService.Client
