import Messages
import NIOCore
import Testing

@testable import RPC

/// Waits until `condition` holds, checking every 5 ms, at most `timeout`; returns whether it held.
func waitFor(within timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
  let deadline = ContinuousClock.now + timeout
  while try await !condition() {
    guard ContinuousClock.now < deadline else { return false }
    try? await Task.sleep(for: .milliseconds(5))
  }
  return true
}

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
    return await waitFor { (try? peer.frames().contains(.ping(ack: true, payload: payload))) ?? false }
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
}
