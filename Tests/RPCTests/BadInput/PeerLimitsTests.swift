import Messages
import NIOCore
import RPCTestSupport
import Testing

@testable import RPC

/// Echo whose unary call fails with large trailing metadata and whose server stream starts
/// with large response headers.
private struct LargeMetadataService: RpcV1.EchoService.ServiceProtocol {
  static func entries(_ count: Int, size: Int) -> Metadata {
    var metadata = Metadata()
    for index in 0..<count { metadata.add("x-entry-\(index)", String(repeating: "v", count: size)) }
    return metadata
  }

  func echo(request: RpcV1.EchoRequest, context: ServerContext) async throws -> RpcV1.EchoResponse {
    throw RPCError(code: .aborted, message: "with metadata", metadata: Self.entries(10, size: 1000))
  }
  func expand(request: RpcV1.EchoRequest, response: ResponseStreamWriter<RpcV1.EchoResponse>, context: ServerContext)
    async throws
  {
    try await response.writeHeaders(Self.entries(10, size: 1000))
    try await response.write(.with { $0.message = "after headers" })
  }
  func collect(requests: RequestStream<RpcV1.EchoRequest>, context: ServerContext) async throws -> RpcV1.EchoResponse {
    RpcV1.EchoResponse()
  }
  func update(
    requests: RequestStream<RpcV1.EchoRequest>, response: ResponseStreamWriter<RpcV1.EchoResponse>,
    context: ServerContext
  ) async throws {}
}

@Suite("Peer limits: the server keeps HEADERS, TRAILERS and messages within what the client announced")
struct PeerLimitsTests {
  /// A client's settings: no compression, small header and frame limits.
  static let smallLimits: ConnectionSettings = {
    var settings = ConnectionSettings()
    settings.compression = [.none]
    settings.maxHeaderSize = 4096
    settings.maxFrameSize = 16384
    return settings
  }()

  private func call(_ id: UInt32, _ path: String, _ request: RpcV1.EchoRequest) -> (inout ByteBuffer) -> Void {
    let bytes = try! request.serializedBytes()
    return { buffer in
      FrameEncoder.writeCallOpen(callID: id, CallOpen(path: path, timeoutMicroseconds: nil, metadata: [:]), into: &buffer)
      FrameEncoder.writeMessage(callID: id, ByteBuffer(bytes: bytes), endStream: true, more: false, into: &buffer)
    }
  }

  private func trailers(_ peer: RawPeer, call id: UInt32) async throws -> Trailers {
    try await peer.waitUntil { _ in
      (try? peer.frames().contains { if case .trailers(id, _) = $0 { true } else { false } }) ?? false
    }
    for case .trailers(id, let trailers) in try peer.frames() { return trailers }
    throw RawPeer.TimeoutError()
  }

  private static let echoPath = "/emporium.rpc.v1.EchoService/Echo"

  @Test("a 20,000-character status message is truncated to the client's MAX_HEADER_SIZE; the connection lives on")
  func longStatusMessage() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake(settings: Self.smallLimits)
      let failing = RpcV1.EchoRequest.with {
        $0.failWith = .with {
          $0.code = 9
          $0.message = String(repeating: "x", count: 20_000)
        }
      }
      try await peer.send(call(1, Self.echoPath, failing))
      let ended = try await trailers(peer, call: 1)
      #expect(ended.encodedSize <= 4096)
      #expect(ended.code == .failedPrecondition)
      #expect(ended.message.hasPrefix("xxxx"))
      #expect(ended.message.hasSuffix(Trailers.truncationMarker))
      // The same connection still carries calls.
      try await peer.send(call(3, Self.echoPath, .with { $0.message = "after" }))
      #expect(try await trailers(peer, call: 3).code == .ok)
      #expect(peer.channel.isActive)
      await peer.close()
    }
  }

  @Test("an unknown 12,000-byte method path gets UNIMPLEMENTED trailers within MAX_HEADER_SIZE")
  func longUnknownPath() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake(settings: Self.smallLimits)
      let path = "/" + String(repeating: "p", count: 11_999)
      try await peer.send(call(1, path, RpcV1.EchoRequest()))
      let ended = try await trailers(peer, call: 1)
      #expect(ended.encodedSize <= 4096)
      #expect(ended.code == .unimplemented)
      try await peer.send(call(3, Self.echoPath, .with { $0.message = "after" }))
      #expect(try await trailers(peer, call: 3).code == .ok)
      await peer.close()
    }
  }

  @Test("large trailing metadata and response headers keep the entries that fit, in order")
  func largeMetadata() async throws {
    try await withServer(services: [LargeMetadataService()]) { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake(settings: Self.smallLimits)
      try await peer.send(call(1, Self.echoPath, RpcV1.EchoRequest()))
      let ended = try await trailers(peer, call: 1)
      #expect(ended.encodedSize <= 4096)
      #expect(ended.code == .aborted)
      #expect(ended.message == "with metadata")
      // 4 entries of 1,014 bytes fit next to the 24 bytes of status, message and count.
      #expect(ended.metadata.entries.map(\.key) == ["x-entry-0", "x-entry-1", "x-entry-2", "x-entry-3"])

      try await peer.send(call(3, "/emporium.rpc.v1.EchoService/Expand", RpcV1.EchoRequest()))
      #expect(try await trailers(peer, call: 3).code == .ok)
      let headers = try peer.frames().compactMap { frame -> Metadata? in
        if case .responseHeaders(3, let metadata) = frame { metadata } else { nil }
      }
      #expect(headers.count == 1)
      #expect(HeaderLimits.encodedSize(headers[0]) <= 4096)
      #expect(headers[0].count == 4)
      await peer.close()
    }
  }

  @Test("a response larger than the client's MAX_MESSAGE_SIZE fails the call instead of being sent")
  func responseOverClientMessageLimit() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      var settings = ConnectionSettings()
      settings.compression = [.none]
      settings.maxMessageSize = 8192
      try await peer.handshake(settings: settings)
      try await peer.send(call(1, Self.echoPath, .with { $0.responsePayloadSize = 20_000 }))
      let ended = try await trailers(peer, call: 1)
      #expect(ended.code == .resourceExhausted)
      let error = RPCError(ended)
      guard case .errorInfo(let info)? = error.details?.details.first?.detail else {
        Issue.record("no ErrorInfo in \(error)")
        return
      }
      #expect(info.reason == "MESSAGE_TOO_LARGE")
      #expect(info.metadata["limitBytes"] == "8192")
      let messages = try peer.frames().filter { if case .message(1, _, _, _) = $0 { true } else { false } }
      #expect(messages.isEmpty)
      // Responses within the limit still go out on the same connection.
      try await peer.send(call(3, Self.echoPath, .with { $0.responsePayloadSize = 4000 }))
      #expect(try await trailers(peer, call: 3).code == .ok)
      await peer.close()
    }
  }

  @Test("a request larger than the server's MAX_MESSAGE_SIZE fails at the client and is never sent")
  func requestOverServerMessageLimit() async throws {
    try await withServer(configure: { $0.settings.maxMessageSize = 8192 }) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1EchoClient(connection)
        _ = try await client.echo(.with { $0.message = "first" })
        let before = await connection.statistics().plainBytesSent
        let isTooLarge: @Sendable (any Error) -> Bool = { error in
          guard let error = error as? RPCError, case .errorInfo(let info)? = error.details?.details.first?.detail else {
            return false
          }
          return error.code == .resourceExhausted && info.reason == "MESSAGE_TOO_LARGE"
            && info.metadata["limitBytes"] == "8192"
        }
        let large = RpcV1.EchoRequest.with { $0.payload = [UInt8](repeating: 1, count: 20_000) }
        await #expect { try await client.echo(large) } throws: { isTooLarge($0) }
        #expect(await connection.statistics().plainBytesSent == before)
        await #expect {
          _ = try await client.collect { writer in try await writer.write(large) }
        } throws: { isTooLarge($0) }
        #expect(try await client.echo(.with { $0.message = "after" }).message == "after")
      }
    }
  }

  // MARK: The fitting rules, without sockets

  @Test("trailers that fit are unchanged")
  func fittingUnchanged() {
    let trailers = Trailers(code: .notFound, message: "no such order", details: [1, 2, 3], metadata: ["a": "b"], refused: false)
    #expect(trailers.fitted(toHeaderLimit: 100) == trailers)
  }

  @Test("details that do not fit are dropped; the message keeps its first KiB and is marked")
  func fittingDropsDetails() {
    let trailers = Trailers(
      code: .internal, message: String(repeating: "é", count: 2000), details: [UInt8](repeating: 7, count: 3000),
      metadata: [:], refused: true)
    let fitted = trailers.fitted(toHeaderLimit: 2048)
    #expect(fitted.encodedSize <= 2048)
    #expect(fitted.details.isEmpty)
    #expect(fitted.refused)
    #expect(fitted.message.hasSuffix(Trailers.truncationMarker))
    #expect(fitted.message.utf8.count > 1024)
    // Cut on a character boundary.
    #expect(fitted.message.dropLast(Trailers.truncationMarker.count).allSatisfy { $0 == "é" })
  }

  @Test("details that fit next to the first KiB of the message are kept")
  func fittingKeepsDetails() {
    let trailers = Trailers(
      code: .internal, message: String(repeating: "m", count: 20_000), details: [UInt8](repeating: 7, count: 500),
      metadata: [:], refused: false)
    let fitted = trailers.fitted(toHeaderLimit: 4096)
    #expect(fitted.encodedSize == 4096)
    #expect(fitted.details.count == 500)
  }

  @Test("below the minimum payload only the code is left")
  func fittingTiny() {
    let trailers = Trailers(code: .aborted, message: "long enough", details: [1], metadata: ["k": "v"], refused: false)
    let fitted = trailers.fitted(toHeaderLimit: 5)
    #expect(fitted.code == .aborted)
    #expect(fitted.message.isEmpty && fitted.details.isEmpty && fitted.metadata.isEmpty)
  }
}
