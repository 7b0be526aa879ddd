import Messages
import NIOCore
import RPCTestSupport
import Testing

@testable import RPC

@Suite("Health while draining: calls before the GOAWAY id are answered NOT_SERVING, Watch ends at once")
struct HealthDrainTests {
  @Test("a Watch opened before shutdown gets NOT_SERVING, then UNAVAILABLE, and does not hold the drain")
  func watchEndsAtDrain() async throws {
    var configuration = RPCServer.Configuration()
    configuration.port = 0
    configuration.drainTimeout = .seconds(60)
    let server = RPCServer(services: [EchoService()], configuration: configuration)
    let serving = Task { try await server.serve() }
    let port = try await server.localAddress().port!
    let clock = ContinuousClock()
    var shutdownAt: ContinuousClock.Instant?
    var statuses: [RpcV1.ServingStatus] = []
    var failure: RPCError?
    try await withConnection(port: port) { connection in
      do {
        try await RpcV1.HealthService.Client(connection).watch(.with { $0.service = "" }) { stream in
          for try await response in stream {
            statuses.append(response.status)
            if statuses.count == 1 {
              shutdownAt = clock.now
              server.beginGracefulShutdown()
            }
          }
        }
      } catch let error as RPCError {
        failure = error
      }
    }
    try await serving.value
    let drained = try #require(shutdownAt).duration(to: clock.now)
    #expect(statuses == [.serving, .notServing])
    #expect(failure?.code == .unavailable)
    // Far below the 60 s drain timeout a held Watch would have cost.
    #expect(drained < .seconds(20))
  }

  @Test("a Check at or below the GOAWAY id is answered NOT_SERVING; one above it is refused")
  func checkWhileDraining() async throws {
    var configuration = RPCServer.Configuration()
    configuration.port = 0
    configuration.drainTimeout = .seconds(60)
    let server = RPCServer(services: [EchoService()], configuration: configuration)
    let serving = Task { try await server.serve() }
    let port = try await server.localAddress().port!
    let peer = try await RawPeer.connect(port: port)
    try await peer.handshake()
    let path = "/emporium.rpc.v1.HealthService/Check"
    let request = try RpcV1.HealthCheckRequest().serializedBytes()
    // Call 1 is open (its request not sent yet) when the drain begins; the PING's answer shows
    // the server has read its HEADERS.
    try await peer.send { buffer in
      FrameEncoder.writeCallOpen(callID: 1, CallOpen(path: path, timeoutMicroseconds: nil, metadata: [:]), into: &buffer)
      FrameEncoder.writePing(ack: false, payload: 42, into: &buffer)
    }
    try await peer.waitUntil { _ in (try? peer.frames().contains { $0 == .ping(ack: true, payload: 42) }) ?? false }
    server.beginGracefulShutdown()
    try await peer.waitUntil { _ in (try? peer.frames().contains { if case .goAway = $0 { true } else { false } }) ?? false }
    guard case .goAway(let last, let code, _)? = try peer.frames().first(where: { if case .goAway = $0 { true } else { false } })
    else { throw RawPeer.TimeoutError() }
    #expect(last == 1)
    #expect(code == ConnectionErrorCode.noError.rawValue)
    try await peer.send { buffer in
      // Call 3, above the GOAWAY id, first: the connection closes as soon as call 1 ends.
      FrameEncoder.writeCallOpen(callID: 3, CallOpen(path: path, timeoutMicroseconds: nil, metadata: [:]), into: &buffer)
      FrameEncoder.writeMessage(callID: 3, ByteBuffer(bytes: request), endStream: true, more: false, into: &buffer)
      FrameEncoder.writeMessage(callID: 1, ByteBuffer(bytes: request), endStream: true, more: false, into: &buffer)
    }
    try await peer.waitUntil { _ in
      let frames = (try? peer.frames()) ?? []
      return frames.contains { if case .trailers(1, _) = $0 { true } else { false } }
        && frames.contains { if case .trailers(3, _) = $0 { true } else { false } }
    }
    let frames = try peer.frames()
    let answers = frames.compactMap { frame -> RpcV1.HealthCheckResponse? in
      guard case .message(1, let payload, _, _) = frame else { return nil }
      return try? RpcV1.HealthCheckResponse(serializedBytes: Array(payload.readableBytesView))
    }
    #expect(answers.map(\.status) == [.notServing])
    for case .trailers(let id, let trailers) in frames {
      if id == 1 { #expect(trailers.code == .ok) }
      if id == 3 { #expect(trailers.code == .unavailable && trailers.refused) }
    }
    try await serving.value
    await peer.close()
  }
}
