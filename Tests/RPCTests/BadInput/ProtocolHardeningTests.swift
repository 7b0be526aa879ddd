import Messages
import NIOCore
import TestSupport
import RPCTestSupport
import Testing

@testable import RPC

/// Rules of docs/PROTOCOL.md that a hostile or careless peer tests, each over a real socket.
@Suite("Protocol hardening: handshake, frame sizes, keepalive and GOAWAY over real sockets")
struct ProtocolHardeningTests {
  private static let noCompression: ConnectionSettings = {
    var settings = ConnectionSettings()
    settings.compression = [.none]
    return settings
  }()

  private func open(_ id: UInt32, _ method: String = "Echo") -> (inout ByteBuffer) -> Void {
    {
      FrameEncoder.writeCallOpen(
        callID: id, CallOpen(path: "/emporium.rpc.v1.EchoService/\(method)", timeoutMicroseconds: nil, metadata: [:]),
        into: &$0)
    }
  }

  private func request(_ message: String) throws -> ByteBuffer {
    ByteBuffer(bytes: try RpcV1.EchoRequest.with { $0.message = message }.serializedBytes())
  }

  /// Sends a PING and waits for its ACK: everything sent before it has been processed, and the
  /// connection is still open.
  private func roundTrip(_ peer: RawPeer, payload: UInt64) async throws -> Bool {
    try await peer.send { FrameEncoder.writePing(ack: false, payload: payload, into: &$0) }
    return await eventually { (try? peer.frames().contains(.ping(ack: true, payload: payload))) ?? false }
  }

  // MARK: Handshake

  @Test("a client that sends SETTINGS but never the ACK is closed after the handshake timeout")
  func handshakeTimeoutWithoutAck() async throws {
    // Long enough that the test's own first bytes reach the server before it gives up, on a
    // loaded machine (500 ms was not).
    let timeout = TimeAmount.seconds(5)
    try await withServer(configure: {
      $0.handshakeTimeout = timeout
      $0.keepaliveInterval = .milliseconds(100)  // keepalive must not keep it open either
    }) { _, port in
      let start = ContinuousClock.now  // the server's clock starts once it accepted the connection
      let peer = try await RawPeer.connect(port: port)
      try await peer.send { buffer in
        FrameEncoder.writePreface(into: &buffer)
        FrameEncoder.writeSettings(Self.noCompression, into: &buffer)
      }
      #expect(await peer.closedByServer(within: .seconds(20)))
      #expect(ContinuousClock.now - start >= .nanoseconds(timeout.nanoseconds))
      let frames = try peer.frames()
      #expect(frames.count == 2)
      guard case .settings(ack: false, _) = frames.first else { Issue.record("no SETTINGS first"); return }
      #expect(try peer.goAwayCode() == .settingsTimeout)
      try await expectServerStillServes(port: port)
    }
  }

  /// Each handshake error after a valid client preface: what the peer sends, and the code.
  static let handshakeErrors: [(name: String, bytes: [UInt8], code: ConnectionErrorCode)] = {
    var ping = ByteBuffer()
    FrameEncoder.writePreface(into: &ping)
    FrameEncoder.writePing(ack: false, payload: 1, into: &ping)
    var outOfRange = ByteBuffer()
    FrameEncoder.writePreface(into: &outOfRange)
    FrameEncoder.writeHeader(.settings, callID: 0, length: 6, into: &outOfRange)
    outOfRange.writeInteger(UInt16(0x1))  // MAX_FRAME_SIZE
    outOfRange.writeInteger(UInt32(10))  // below 1024
    var badLength = ByteBuffer()
    FrameEncoder.writePreface(into: &badLength)
    FrameEncoder.writeHeader(.settings, callID: 0, length: 5, into: &badLength)
    badLength.writeBytes([0, 1, 0, 0, 0])
    return [
      ("PING before SETTINGS", Array(ping.readableBytesView), .protocolError),
      ("out-of-range setting", Array(outOfRange.readableBytesView), .protocolError),
      ("SETTINGS length not a multiple of 6", Array(badLength.readableBytesView), .frameSizeError),
      ("version 0", Wire.magic + [0, 0], .unsupportedVersion),
    ]
  }()

  @Test(
    "a handshake error after a valid client preface gets the server's preface, then GOAWAY",
    arguments: handshakeErrors.indices)
  func prefaceBeforeGoAway(_ index: Int) async throws {
    let (name, bytes, code) = Self.handshakeErrors[index]
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.send(bytes)
      #expect(await peer.closedByServer(), "\(name)")
      Self.expectPrefaceThenGoAway(peer, code, name)
      try await expectServerStillServes(port: port)
    }
  }

  @Test("the handshake timeout after a valid preface gets the server's preface, then GOAWAY SETTINGS_TIMEOUT")
  func prefaceBeforeTimeoutGoAway() async throws {
    // Long enough that the preface reaches the server before it gives up, on a loaded machine.
    try await withServer(configure: { $0.handshakeTimeout = .seconds(5) }) { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.send(Wire.magic + [0, 1])
      #expect(await peer.closedByServer(within: .seconds(30)))
      Self.expectPrefaceThenGoAway(peer, .settingsTimeout, "timeout")
    }
  }

  @Test("bytes that are not a preface are closed without an answer")
  func badPreface() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.send(Array("GET / HTTP/1.1\r\n\r\n".utf8))
      #expect(await peer.closedByServer())
      #expect(peer.received.readableBytes == 0)
    }
  }

  /// The peer received exactly the server's preface and one GOAWAY with `code`.
  private static func expectPrefaceThenGoAway(_ peer: RawPeer, _ code: ConnectionErrorCode, _ name: String) {
    let received = peer.received
    #expect(received.getBytes(at: received.readerIndex, length: Wire.prefaceLength) == Wire.magic + [0, 1], "\(name)")
    let frames = (try? peer.frames()) ?? []
    #expect(frames.count == 1, "\(name)")
    guard case .goAway(0, let raw, _)? = frames.first else {
      Issue.record("\(name): no GOAWAY after the preface")
      return
    }
    #expect(ConnectionErrorCode(rawValue: raw) == code, "\(name)")
  }

  // MARK: Payload sizes

  /// A frame whose payload has the wrong size or layout, and the code §3.2 names for it.
  static let payloadErrors: [(name: String, type: FrameType, callID: UInt32, payload: [UInt8], code: ConnectionErrorCode)] = [
    ("PING of 9 bytes", .ping, 0, Array(repeating: 1, count: 9), .frameSizeError),
    ("PING of 7 bytes", .ping, 0, Array(repeating: 1, count: 7), .frameSizeError),
    ("CANCEL of 5 bytes", .cancel, 1, [0, 0, 0, 1, 0], .frameSizeError),
    ("CREDIT of 8 bytes", .credit, 1, [0, 0, 0, 1, 0, 0, 0, 1], .frameSizeError),
    ("GOAWAY of 6 bytes", .goAway, 0, [0, 0, 0, 0, 0, 0], .protocolError),
    ("GOAWAY whose text is cut short", .goAway, 0, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x61], .protocolError),
  ]

  @Test("payloads of the wrong size get FRAME_SIZE_ERROR; a truncated GOAWAY gets PROTOCOL_ERROR", arguments: payloadErrors.indices)
  func payloadSizes(_ index: Int) async throws {
    let (name, type, callID, payload, code) = Self.payloadErrors[index]
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        open(1, "Collect")(&buffer)  // so call frames name an open call
        FrameEncoder.writeHeader(type, callID: callID, length: payload.count, into: &buffer)
        buffer.writeBytes(payload)
      }
      #expect(await peer.closedByServer(), "\(name)")
      #expect(try peer.goAwayCode() == code, "\(name)")
      try await expectServerStillServes(port: port)
    }
  }

  // MARK: Call ids

  @Test("HEADERS reusing the id of an ended call is PROTOCOL_ERROR; other frames for it are ignored")
  func reusedCallID() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        open(1)(&buffer)
        FrameEncoder.writeMessage(callID: 1, try! request("one"), endStream: true, more: false, into: &buffer)
      }
      #expect(try await eventually { try peer.frames().contains { if case .trailers(1, _) = $0 { true } else { false } } })
      // Late frames for the ended call: ignored.
      try await peer.send { buffer in
        FrameEncoder.writeCredit(callID: 1, increment: 10, into: &buffer)
        FrameEncoder.writeCancel(callID: 1, code: .cancelled, into: &buffer)
      }
      #expect(try await roundTrip(peer, payload: 7))
      // A new call on the same id: a connection error.
      try await peer.send { open(1)(&$0) }
      #expect(await peer.closedByServer())
      let goAway = try peer.frames().compactMap { if case .goAway(let last, let code, _) = $0 { (last, code) } else { nil } }
      #expect(goAway.count == 1)
      #expect(goAway.first?.0 == 1)
      #expect(goAway.first?.1 == ConnectionErrorCode.protocolError.rawValue)
    }
  }

  @Test("GOAWAY's last call id counts calls opened by HEADERS, not ids seen only in other frames")
  func lastCallIDIgnoresUnopenedIDs() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        open(3, "Collect")(&buffer)
        FrameEncoder.writeMessage(callID: 99, ByteBuffer(bytes: [1]), endStream: false, more: false, into: &buffer)
      }
      #expect(await peer.closedByServer())
      let goAway = try peer.frames().compactMap { if case .goAway(let last, let code, _) = $0 { (last, code) } else { nil } }
      #expect(goAway.first?.0 == 3)
      #expect(goAway.first?.1 == ConnectionErrorCode.protocolError.rawValue)
    }
  }

  // MARK: GOAWAY from the client

  @Test("after the client's GOAWAY NO_ERROR the server finishes the open call, then closes without GOAWAY")
  func clientGoAwayFinishesOpenCalls() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        open(1, "Collect")(&buffer)
        FrameEncoder.writeMessage(callID: 1, try! request("a"), endStream: false, more: false, into: &buffer)
        FrameEncoder.writeGoAway(lastCallID: 1, code: .noError, debug: "client leaving", into: &buffer)
      }
      // The GOAWAY is processed and the connection stays open for call 1.
      #expect(try await roundTrip(peer, payload: 1))
      try await peer.send { buffer in
        FrameEncoder.writeMessage(callID: 1, try! request("b"), endStream: true, more: false, into: &buffer)
      }
      #expect(await peer.closedByServer())
      let frames = try peer.frames()
      var response: RpcV1.EchoResponse?
      for case .message(1, let bytes, _, _) in frames { response = try RpcV1.EchoResponse(decoding: bytes) }
      #expect(response?.message == "ab")
      #expect(frames.contains { if case .trailers(1, let trailers) = $0 { trailers.code == .ok } else { false } })
      #expect(!frames.contains { if case .goAway = $0 { true } else { false } })
      try await expectServerStillServes(port: port)
    }
  }

  @Test("the client's GOAWAY closes an idle connection at once, and one with an error code at once too")
  func clientGoAwayClosesNow() async throws {
    try await withServer { _, port in
      let idle = try await RawPeer.connect(port: port)
      try await idle.handshake()
      try await idle.send { FrameEncoder.writeGoAway(lastCallID: 0, code: .noError, debug: "", into: &$0) }
      #expect(await idle.closedByServer())

      let failing = try await RawPeer.connect(port: port)
      try await failing.handshake()
      try await failing.send { buffer in
        open(1, "Collect")(&buffer)
        FrameEncoder.writeGoAway(lastCallID: 1, code: .protocolError, debug: "client saw garbage", into: &buffer)
      }
      #expect(await failing.closedByServer())
      #expect(!(try failing.frames()).contains { if case .goAway = $0 { true } else { false } })
      try await expectServerStillServes(port: port)
    }
  }

  @Test("a new call after the client's GOAWAY is PROTOCOL_ERROR")
  func callAfterClientGoAway() async throws {
    try await withServer { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.handshake()
      try await peer.send { buffer in
        open(1, "Collect")(&buffer)
        FrameEncoder.writeGoAway(lastCallID: 1, code: .noError, debug: "", into: &buffer)
        open(2, "Collect")(&buffer)
      }
      #expect(await peer.closedByServer())
      #expect(try peer.goAwayCode() == .protocolError)
    }
  }

  // MARK: Keepalive

  @Test("keepalive pings one interval after the last received byte and closes one timeout after an unanswered ping")
  func keepaliveTiming() async throws {
    // Long enough that the bounds below hold on a loaded machine, and that pinging on a coarse
    // tick (up to two intervals idle, a whole interval to time out) falls outside them.
    // The margins (2.5 s) absorb a busy 2-core machine's scheduling delays.
    let interval = Duration.seconds(5)
    let timeout = Duration.seconds(2)
    try await withServer(configure: {
      $0.keepaliveInterval = .seconds(5)
      $0.keepaliveTimeout = .seconds(2)
    }) { _, port in
      let peer = try await RawPeer.connect(port: port)
      try await peer.send { buffer in
        FrameEncoder.writePreface(into: &buffer)
        FrameEncoder.writeSettings(Self.noCompression, into: &buffer)
      }
      try await peer.waitUntil { $0.readableBytes >= Wire.prefaceLength + Wire.frameHeaderLength }
      let lastSent = ContinuousClock.now
      try await peer.send { FrameEncoder.writeSettingsAck(into: &$0) }
      let pinged = try await eventually(within: .seconds(30)) {
        try peer.frames().contains { if case .ping(ack: false, _) = $0 { true } else { false } }
      }
      let pingedAt = ContinuousClock.now
      #expect(pinged)
      #expect(pingedAt - lastSent >= interval)
      #expect(pingedAt - lastSent < interval + .milliseconds(2500))
      #expect(await peer.closedByServer(within: .seconds(30)))
      #expect(ContinuousClock.now - pingedAt < timeout + .milliseconds(2500))
      #expect(try peer.goAwayCode() == .keepaliveTimeout)
    }
  }
}
