import CZstd
import Foundation
import Messages
import NIOCore
import RPCTestSupport
import Testing

@testable import RPC

/// The byte-level examples in docs/PROTOCOL.md: rebuilt from the encoder, and replayed against a
/// real server whose every byte is compared. The tests fail when the document and the code
/// disagree; `EMPORIUM_PRINT_PROTOCOL_EXAMPLES=FILE swift test --filter ProtocolDocumentTests`
/// writes freshly formatted blocks to FILE.
@Suite("docs/PROTOCOL.md examples")
struct ProtocolDocumentTests {
  /// What the example server names itself in `server_instance`.
  static let serverInstance = "api-3:4711"
  /// What the example server reports as `remaining_deadline` (measured, it varies by the
  /// microsecond).
  static let remainingDeadline = Duration.milliseconds(999)

  static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("docs/PROTOCOL.md")

  static func examples() throws -> [(name: String, bytes: [UInt8])] {
    var examples: [(String, [UInt8])] = []
    for compression in [ConnectionSettings.Compression.none, .zstd] {
      let suffix = compression == .none ? "none" : "zstd"
      var clientSettings = ConnectionSettings()
      clientSettings.compression = compression == .none ? [.none] : [.none, .zstd]
      // What an Emporium server announces by default (its metadata table included).
      var serverSettings = RPCServer.Configuration().settings
      serverSettings.compression = [compression]

      var clientHello = ByteBuffer()
      FrameEncoder.writePreface(into: &clientHello)
      FrameEncoder.writeSettings(clientSettings, into: &clientHello)
      var serverHello = ByteBuffer()
      FrameEncoder.writePreface(into: &serverHello)
      FrameEncoder.writeSettings(serverSettings, into: &serverHello)
      var ack = ByteBuffer()
      FrameEncoder.writeSettingsAck(into: &ack)

      var request = ByteBuffer()
      let open = CallOpen(
        path: "/emporium.rpc.v1.EchoService/Echo", timeoutMicroseconds: 1_000_000, metadata: ["x-request-id": "r1"])
      FrameEncoder.writeCallOpen(callID: 1, open, into: &request)
      var requestMessage = ByteBuffer()
      try RpcV1.EchoRequest.with { $0.message = "hi" }.encode(into: &requestMessage)
      FrameEncoder.writeMessage(callID: 1, requestMessage, endStream: true, more: false, into: &request)

      var response = ByteBuffer()
      var responseMessage = ByteBuffer()
      try RpcV1.EchoResponse.with {
        $0.message = "hi"
        $0.requestCount = 1
        $0.remainingDeadline = .with { $0.nanos = Int32(Self.remainingDeadline / .nanoseconds(1)) }
        $0.serverInstance = Self.serverInstance
      }.encode(into: &responseMessage)
      FrameEncoder.writeMessage(callID: 1, responseMessage, endStream: false, more: false, into: &response)
      FrameEncoder.writeTrailers(
        callID: 1, Trailers(code: .ok, message: "", details: [], metadata: [:], refused: false), into: &response)

      if compression == .zstd {
        var clientStream = try ZstdStreamCompressor(level: 1, windowLog: 17)
        var compressedRequest = ByteBuffer()
        try clientStream.compress(request, into: &compressedRequest)
        try clientStream.flush(into: &compressedRequest)
        request = compressedRequest
        var serverStream = try ZstdStreamCompressor(level: 1, windowLog: 17)
        var compressedResponse = ByteBuffer()
        try serverStream.compress(response, into: &compressedResponse)
        try serverStream.flush(into: &compressedResponse)
        response = compressedResponse
      }
      examples.append(("\(suffix)/1-client-hello", Array(clientHello.readableBytesView)))
      examples.append(("\(suffix)/2-server-hello", Array(serverHello.readableBytesView)))
      examples.append(("\(suffix)/3-client-ack", Array(ack.readableBytesView)))
      examples.append(("\(suffix)/4-client-call", Array(request.readableBytesView)))
      examples.append(("\(suffix)/5-server-reply", Array(response.readableBytesView)))
    }
    return examples
  }

  /// `offset: hex bytes  |ascii|`, 16 bytes a line.
  static func hexDump(_ bytes: [UInt8]) -> String {
    stride(from: 0, to: bytes.count, by: 16).map { start in
      let line = bytes[start..<min(start + 16, bytes.count)]
      let hex = line.map { String(format: "%02x", $0) }.joined(separator: " ")
      let ascii = String(line.map { (0x20...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "." })
      return String(format: "%04x  ", start) + hex.padding(toLength: 47, withPad: " ", startingAt: 0) + "  |" + ascii + "|"
    }.joined(separator: "\n")
  }

  /// The bytes of each `<!-- example: NAME -->` block of the document.
  static func documentedBlocks() throws -> [String: [UInt8]] {
    let text = try String(contentsOf: document, encoding: .utf8)
    var blocks: [String: [UInt8]] = [:]
    var name: String?
    var inBlock = false
    var bytes: [UInt8] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("<!-- example: "), line.hasSuffix(" -->") {
        name = String(line.dropFirst("<!-- example: ".count).dropLast(" -->".count))
      } else if let current = name, line.hasPrefix("```") {
        if inBlock {
          blocks[current] = bytes
          name = nil
          bytes = []
        }
        inBlock.toggle()
      } else if inBlock {
        let hexPart = line.dropFirst(6).prefix(47)
        bytes += hexPart.split(separator: " ").compactMap { UInt8($0, radix: 16) }
      }
    }
    return blocks
  }

  @Test("every hex dump in the document matches what the encoder produces")
  func examplesMatch() throws {
    let examples = try Self.examples()
    if let path = ProcessInfo.processInfo.environment["EMPORIUM_PRINT_PROTOCOL_EXAMPLES"] {
      let text = examples.map { "<!-- example: \($0.name) -->\n```text\n\(Self.hexDump($0.bytes))\n```\n" }.joined(separator: "\n")
      try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let documented = try Self.documentedBlocks()
    for example in examples {
      #expect(documented[example.name] == example.bytes, "example \(example.name)")
    }
  }

  @Test(
    "a real server answers the documented client bytes with exactly the documented server bytes",
    arguments: ["none", "zstd"])
  func serverReplay(_ compression: String) async throws {
    let blocks = try Self.documentedBlocks()
    let hello = try #require(blocks["\(compression)/1-client-hello"])
    let serverHello = try #require(blocks["\(compression)/2-server-hello"])
    let ack = try #require(blocks["\(compression)/3-client-ack"])
    let call = try #require(blocks["\(compression)/4-client-call"])
    let reply = try #require(blocks["\(compression)/5-server-reply"])
    if compression == "zstd" {
      #expect(ZSTD_versionNumber() == 10504, "§16.2 shows the bytes of libzstd 1.5.4")
    }
    let echo = EchoService(instance: Self.serverInstance, remainingDeadline: Self.remainingDeadline)
    try await withServer(services: [echo]) { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.send(hello)
      try await peer.waitUntil { $0.readableBytes >= serverHello.count }
      #expect(Array(peer.received.readableBytesView) == serverHello)
      try await peer.send(ack)
      try await peer.send(call)
      try await peer.waitUntil { $0.readableBytes >= serverHello.count + reply.count }
      // Nothing more: the server closes when we stop sending, and what it sent by then is all.
      try await peer.channel.close(mode: .output)
      #expect(await peer.closedByServer())
      #expect(Array(peer.received.readableBytesView) == serverHello + reply)
    }
  }

  @Test("the documented exchanges decode back into the frames they describe")
  func examplesDecode() throws {
    let blocks = try Self.documentedBlocks()
    let call = try #require(blocks["none/4-client-call"])
    var decoder = FrameDecoder(role: .server, maxFrameSize: 1 << 16, maxHeaderSize: 1 << 14)
    decoder.append(ByteBuffer(bytes: call))
    guard case .callOpen(1, let open) = try decoder.next() else { Issue.record("not a call open"); return }
    #expect(open.path == "/emporium.rpc.v1.EchoService/Echo" && open.timeoutMicroseconds == 1_000_000)
    guard case .message(1, let message, true, false) = try decoder.next() else { Issue.record("not a message"); return }
    #expect(try RpcV1.EchoRequest(decoding: message).message == "hi")
  }
}
