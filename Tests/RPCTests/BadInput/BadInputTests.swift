import Messages
import NIOCore
import TestSupport
import RPCTestSupport
import Testing

@testable import RPC

/// A method taking a recursive message, so nesting depth is not bounded by the schema.
enum NodeMethod: ProtoMethod {
  typealias Input = TestingV1.Node
  typealias Output = TestingV1.Node
  static let descriptor = ProtoMethodDescriptor(
    service: "emporium.testing.v1.NodeService", method: "Reflect", kind: .unary,
    inputType: "emporium.testing.v1.Node", outputType: "emporium.testing.v1.Node")
}

struct NodeService: RPCService {
  var serviceDescriptor: ProtoServiceDescriptor {
    ProtoServiceDescriptor(name: "emporium.testing.v1.NodeService", methods: [NodeMethod.descriptor])
  }
  func registerMethods(with router: inout RPCRouter) {
    router.registerUnary(NodeMethod.self) { node, _ in node }
  }
}

@Suite("Bad input: each case gets the error the protocol names, and the server stays up")
struct BadInputTests {
  private func echoOpen(_ id: UInt32, metadata: Metadata = [:]) -> (inout ByteBuffer) -> Void {
    { FrameEncoder.writeCallOpen(callID: id, CallOpen(path: "/emporium.rpc.v1.EchoService/Echo", timeoutMicroseconds: nil, metadata: metadata), into: &$0) }
  }

  @Test("an oversized length prefix gets GOAWAY FRAME_SIZE_ERROR from the header alone")
  func oversizedLength() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      // Only the 10-byte header, claiming a 2 GiB frame: the server answers without waiting.
      try await peer.send { FrameEncoder.writeHeader(.message, callID: 1, length: 0x7FFF_FFFF, into: &$0) }
      #expect(await peer.closedByServer())
      #expect(try peer.goAwayCode() == .frameSizeError)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a truncated frame from a peer that then leaves harms nobody")
  func truncatedFrame() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        echoOpen(1)(&buffer)
        FrameEncoder.writeHeader(.message, callID: 1, length: 100, into: &buffer)
        buffer.writeBytes([1, 2, 3])  // 3 of 100 bytes
      }
      try await expectServerStillServes(port: port)  // while the truncated frame is pending
      await peer.close()
      try await expectServerStillServes(port: port)
    }
  }

  @Test("an unknown frame type gets GOAWAY PROTOCOL_ERROR")
  func unknownFrameType() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send([0, 0, 0, 0, 0x4F, 0, 0, 0, 0, 0])
      #expect(await peer.closedByServer())
      #expect(try peer.goAwayCode() == .protocolError)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("frames for calls never opened get GOAWAY PROTOCOL_ERROR; for ended calls they are ignored")
  func framesForMissingCalls() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      // Call 1 runs to completion; a late CANCEL and CREDIT for it are harmless.
      try await peer.send { buffer in
        echoOpen(1)(&buffer)
        FrameEncoder.writeMessage(callID: 1, ByteBuffer(), endStream: true, more: false, into: &buffer)
      }
      try await peer.waitUntil { _ in (try? peer.frames().contains { if case .trailers(1, _) = $0 { true } else { false } }) ?? false }
      try await peer.send { buffer in
        FrameEncoder.writeCredit(callID: 1, increment: 10, into: &buffer)
        FrameEncoder.writeCancel(callID: 1, code: .cancelled, into: &buffer)
      }
      // A PING answered after them shows they were read, and ignored.
      try await peer.send { FrameEncoder.writePing(ack: false, payload: 7, into: &$0) }
      #expect(await eventually { (try? peer.frames().contains(.ping(ack: true, payload: 7))) ?? false })
      #expect(peer.channel.isActive)
      // A MESSAGE for call 99, which was never opened.
      try await peer.send { FrameEncoder.writeMessage(callID: 99, ByteBuffer(bytes: [1]), endStream: false, more: false, into: &$0) }
      #expect(await peer.closedByServer())
      #expect(try peer.goAwayCode() == .protocolError)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("invalid zstd data gets GOAWAY COMPRESSION_ERROR")
  func invalidZstd() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake(settings: ConnectionSettings())  // offers zstd; the server picks it
      try await peer.send(Array(repeating: 0xAB, count: 64))
      #expect(await peer.closedByServer())
      #expect(try Self.compressedGoAway(peer) == .compressionError)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a decompression bomb is inflated in bounded chunks and stopped at its first bad frame")
  func decompressionBomb() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake(settings: ConnectionSettings())
      // 256 MiB of zeros in a few KiB: as frames, zeros read as a second SETTINGS frame.
      var compressor = try ZstdStreamCompressor(level: 1, windowLog: 17)
      var bomb = ByteBuffer()
      let zeros = ByteBuffer(repeating: 0, count: 1 << 20)
      for _ in 0..<256 { try compressor.compress(zeros, into: &bomb) }
      try compressor.flush(into: &bomb)
      #expect(bomb.readableBytes < 100_000)
      try await peer.channel.writeAndFlush(bomb)
      #expect(await peer.closedByServer())
      #expect(try Self.compressedGoAway(peer) == .protocolError)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a zstd window larger than negotiated gets GOAWAY COMPRESSION_ERROR")
  func zstdWindowTooLarge() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake(settings: ConnectionSettings())
      // A stream compressed with a 16 MiB window declares it in its frame header, which the
      // server (limit: 2^17) refuses before decoding anything.
      var compressor = try ZstdStreamCompressor(level: 1, windowLog: 24)
      var bytes = ByteBuffer()
      var ping = ByteBuffer()
      FrameEncoder.writePing(ack: false, payload: 1, into: &ping)
      try compressor.compress(ping, into: &bytes)
      try compressor.flush(into: &bytes)
      try await peer.channel.writeAndFlush(bytes)
      #expect(await peer.closedByServer())
      #expect(try Self.compressedGoAway(peer) == .compressionError)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a malformed request message fails the call with INVALID_ARGUMENT")
  func malformedProtobuf() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        await #expect {
          try await connection.unary(
            method: RpcV1.EchoService.Echo.descriptor, request: ByteBuffer(bytes: [0x0A, 0xFF, 0xFF]), options: .init())
        } throws: { ($0 as? RPCError)?.code == .invalidArgument }
        let after = try await RpcV1EchoClient(connection).echo(.with { $0.message = "same connection" })
        #expect(after.message == "same connection")
      }
    }
  }

  @Test("deeply nested protobuf fails the call with INVALID_ARGUMENT, before protobuf-c recurses")
  func deeplyNested() async throws {
    try await withServer(services: [NodeService()]) { _, port in
      try await withConnection(port: port) { connection in
        // child (field 2) inside child inside ..., 100,000 levels, built back to front.
        var reversed: [UInt8] = []
        for _ in 0..<100_000 {
          reversed.append(contentsOf: DecodingVarint.encode(UInt64(reversed.count)).reversed())
          reversed.append(0x12)
        }
        let nested = Array(reversed.reversed())
        await #expect {
          try await connection.unary(method: NodeMethod.descriptor, request: ByteBuffer(bytes: nested), options: .init())
        } throws: { error in
          guard let error = error as? RPCError else { return false }
          guard case .errorInfo(let info)? = error.details?.details.first?.detail else { return false }
          return error.code == .invalidArgument && info.reason == "NESTING_TOO_DEEP" && info.metadata["maxDepth"] == "100"
        }
        let shallow = TestingV1.Node.with { $0.label = "ok" }
        let echoed = try await connection.unary(NodeMethod.self, shallow)
        #expect(echoed == shallow)
      }
    }
  }

  @Test("calls past the concurrent-call limit are refused with RESOURCE_EXHAUSTED, marked retryable")
  func tooManyConcurrentCalls() async throws {
    try await withServer(configure: { $0.settings.maxConcurrentCalls = 3 }) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1EchoClient(connection)
        let outcomes = await withTaskGroup(of: RPCError?.self) { group in
          for _ in 0..<6 {
            group.addTask {
              do {
                _ = try await client.echo(.with { $0.responseDelay = .with { $0.nanos = 300_000_000 } })
                return nil
              } catch { return error as? RPCError }
            }
          }
          return await group.reduce(into: [RPCError?]()) { $0.append($1) }
        }
        let refused = outcomes.compactMap { $0 }
        #expect(refused.count == 3)
        #expect(refused.allSatisfy { $0.code == .resourceExhausted && $0.refused })
        // The details say why and when to retry.
        let kinds = refused.first?.details?.details.compactMap(\.detail) ?? []
        #expect(kinds.contains { if case .errorInfo(let info) = $0 { info.reason == "CONCURRENCY_LIMIT" } else { false } })
        #expect(kinds.contains { if case .retryInfo = $0 { true } else { false } })
      }
    }
  }

  @Test("oversized metadata fails the call with RESOURCE_EXHAUSTED; the connection stays usable")
  func oversizedMetadata() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        var metadata = Metadata()
        metadata.add("x-big", String(repeating: "m", count: 20_000))
        await #expect {
          try await RpcV1EchoClient(connection).echo(.init(), options: CallOptions(metadata: metadata))
        } throws: { ($0 as? RPCError)?.code == .resourceExhausted }
        let after = try await RpcV1EchoClient(connection).echo(.with { $0.message = "fine" })
        #expect(after.message == "fine")
      }
    }
  }

  @Test("a PING flood gets GOAWAY ENHANCE_YOUR_CALM")
  func pingFlood() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        for index in 0..<1000 { FrameEncoder.writePing(ack: false, payload: UInt64(index), into: &buffer) }
      }
      #expect(await peer.closedByServer())
      #expect(try peer.goAwayCode() == .enhanceYourCalm)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a CANCEL flood gets GOAWAY ENHANCE_YOUR_CALM")
  func cancelFlood() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        for id in UInt32(1)...1000 {
          echoOpen(id)(&buffer)
          FrameEncoder.writeCancel(callID: id, code: .cancelled, into: &buffer)
        }
      }
      #expect(await peer.closedByServer())
      #expect(try peer.goAwayCode() == .enhanceYourCalm)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a peer that connects and sends nothing is closed after the handshake timeout")
  func silentPeer() async throws {
    // One second leaves the well-behaved client of `expectServerStillServes` room to finish its
    // own handshake on a loaded machine (200 ms failed once there).
    try await withServer(configure: { $0.handshakeTimeout = .seconds(1) }) { _, port in
      let peer = try await RawPeer.connect(port: port)
      #expect(await peer.closedByServer(within: .seconds(10)))
      try await expectServerStillServes(port: port)
    }
  }

  @Test("keepalive: an idle peer that never answers PING is closed with KEEPALIVE_TIMEOUT")
  func keepaliveTimeout() async throws {
    // The timeout leaves the well-behaved client of `expectServerStillServes` room to answer
    // its own pings on a loaded machine (200 ms, then 1 s, closed it mid-call there).
    try await withServer(configure: {
      $0.keepaliveInterval = .milliseconds(100)
      $0.keepaliveTimeout = .seconds(5)
    }) { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      #expect(await peer.closedByServer(within: .seconds(60)))
      let frames = try peer.frames()
      #expect(frames.contains { if case .ping(false, _) = $0 { true } else { false } })
      #expect(try peer.goAwayCode() == .keepaliveTimeout)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("keepalive: a peer that answers PINGs stays connected")
  func keepaliveAnswered() async throws {
    // A 5 s timeout leaves a loaded machine time to answer (1 s closed the connection once).
    try await withServer(configure: {
      $0.keepaliveInterval = .milliseconds(100)
      $0.keepaliveTimeout = .seconds(5)
    }) { _, port in
      try await withConnection(port: port, compression: .none) { connection in
        // Idle, the client sends nothing but PING ACKs (18 bytes each): count them. The server
        // checks a ping when it is due to be answered and pings again then, so three answered
        // pings span two timeouts: an ACK the server ignored would have closed the connection;
        // with keepalive off none arrive and the wait fails.
        let answer = Wire.frameHeaderLength + 8
        let before = await connection.statistics().plainBytesSent
        let answered = await eventually(within: .seconds(60)) {
          await connection.statistics().plainBytesSent >= before + 3 * answer
        }
        #expect(answered)
        let response = try await RpcV1EchoClient(connection).echo(.with { $0.message = "still" })
        #expect(response.message == "still")
      }
    }
  }

  @Test("a peer that never reads is closed after the write-stall timeout; others are served meanwhile")
  func peerThatNeverReads() async throws {
    try await withServer(configure: { $0.writeStallTimeout = .milliseconds(300) }) { server, port in
      let peer = try await RawPeer.connect(port: port, autoRead: false)
      // The handshake needs one read of the server's settings.
      try await peer.send { buffer in
        FrameEncoder.writePreface(into: &buffer)
        var settings = ConnectionSettings()
        settings.compression = [.none]
        FrameEncoder.writeSettings(settings, into: &buffer)
        FrameEncoder.writeSettingsAck(into: &buffer)
        // A big server stream, with credit granted blindly so only TCP can push back.
        FrameEncoder.writeCallOpen(
          callID: 1, CallOpen(path: "/emporium.rpc.v1.EchoService/Expand", timeoutMicroseconds: nil, metadata: [:]),
          into: &buffer)
        let request = try! RpcV1.EchoRequest.with {
          $0.repeatCount = 100_000
          $0.responsePayloadSize = 60_000
        }.serializedBytes()
        FrameEncoder.writeMessage(callID: 1, ByteBuffer(bytes: request), endStream: true, more: false, into: &buffer)
        FrameEncoder.writeCredit(callID: 1, increment: UInt32(Int32.max) - 65536, into: &buffer)
      }
      try await expectServerStillServes(port: port)
      // The peer reads nothing, so it cannot see the close; the server's side tells.
      let deadline = ContinuousClock.now + .seconds(20)
      while server.core.connections.count > 0, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(20))
      }
      #expect(server.core.connections.count == 0)
      try await expectServerStillServes(port: port)
      await peer.close()
    }
  }

  /// Reads the GOAWAY code from a connection whose server side switched to zstd.
  static func compressedGoAway(_ peer: RawPeer) throws -> ConnectionErrorCode? {
    var bytes = peer.received
    bytes.moveReaderIndex(forwardBy: Wire.prefaceLength)
    var plain = FrameDecoder(role: .client, maxFrameSize: 1 << 24, maxHeaderSize: 1 << 20)
    plain.append(bytes)
    _ = try plain.next()  // the server's SETTINGS, uncompressed
    var compressed = plain.takeBuffered()
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 24)
    var output = ByteBuffer()
    while try decompressor.decompress(&compressed, into: &output, maxOutputBytes: 1 << 20) {}
    var decoder = FrameDecoder(role: .client, maxFrameSize: 1 << 24, maxHeaderSize: 1 << 20)
    decoder.append(output)
    while let frame = try decoder.next() {
      if case .goAway(_, let code, _) = frame { return ConnectionErrorCode(rawValue: code) }
    }
    return nil
  }
}

enum DecodingVarint {
  static func encode(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    while value >= 0x80 {
      bytes.append(UInt8(value & 0x7F) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
    return bytes
  }
}
