import Foundation
import LoadCore
import Messages
import NIOCore
import NIOPosix
import RPC
import RPCTestSupport
import Synchronization
import TestSupport
import Testing

@testable import loadgen

/// The loop engine's `prebuilt` call path (``PrebuiltCallConnection``) against a real echo
/// server, and against a bare peer on a socket for what a well-behaved server never does
/// (never answering, going away at once).
@Suite struct PrebuiltCallTests {
  /// An echo request sent as built on every journey; `expectedPayload` is what the response's
  /// payload must measure.
  struct FixedEcho: OneCallScenario {
    var request = RpcV1.EchoRequest()
    var timeout: Duration = .seconds(30)
    var expectedPayload = 0
    var name: String { "fixed" }
    var step: String { "echo" }

    func journey(_ context: JourneyContext) async throws {}
    func start(_ journey: LoopJourney, on connection: RPCConnection) { journey.finish(status: "CLIENT_PATH") }

    var prebuilt: PrebuiltCall? {
      var bytes = ByteBuffer()
      try! request.encode(into: &bytes)
      return PrebuiltCall(
        call: PrebuiltUnaryCall(path: RpcV1.EchoService.Echo.descriptor.path, timeout: timeout, request: bytes),
        check: EchoScenario.answerCarries(payloadBytes: expectedPayload))
    }
  }

  /// Runs `scenario` on the prebuilt path, closed model, for `duration`; journeys per status.
  func run(_ scenario: FixedEcho, port: Int, users: Int = 4, duration: Duration = .milliseconds(300)) async throws
    -> [String: UInt64]
  {
    let connections = try await LoopConnections.connect(
      host: "127.0.0.1", port: port, count: 1, configuration: RPCConnection.Configuration(), scenario: scenario,
      path: .prebuilt)
    #expect(connections.callPath == .prebuilt)
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(model: .closed(users: users, thinkTime: nil), warmup: .zero, duration: duration),
      classify: Scenarios.classify)
    let result = await connections.measure(scenario, engine: engine)
    await connections.close()
    var statuses: [String: UInt64] = [:]
    for (key, pair) in result.operations where key.operation == "fixed" { statuses[key.status, default: 0] += pair.count }
    let calls = result.operations.filter { $0.key.operation == "fixed.echo" }.values.reduce(0) { $0 + $1.count }
    #expect(calls == statuses.values.reduce(0, +), "each journey records its call once")
    return statuses
  }

  @Test func echoesAreAnsweredAndTheirPayloadChecked() async throws {
    var scenario = FixedEcho()
    scenario.request.payload = Array(repeating: 7, count: 100)
    scenario.expectedPayload = 100
    var wrong = scenario
    wrong.request.responsePayloadSize = 5  // the server answers with 5 bytes of payload instead
    let (answered, checked) = try await withServer { _, port in
      (try await run(scenario, port: port), try await run(wrong, port: port))
    }
    #expect(answered.keys.sorted() == ["OK"])
    #expect((answered["OK"] ?? 0) > 0)
    #expect(checked.keys.sorted() == ["BAD_RESPONSE"])
  }

  @Test func failedCallsAreRecordedUnderTheirStatus() async throws {
    var scenario = FixedEcho()
    scenario.request.failWith = .with {
      $0.code = Int32(RPCStatusCode.notFound.rawValue)
      $0.message = "no such thing"
    }
    let statuses = try await withServer { _, port in try await run(scenario, port: port) }
    #expect(statuses.keys.sorted() == ["NOT_FOUND"])
  }

  @Test func theServersDeadlineEndsASlowCall() async throws {
    var scenario = FixedEcho()
    scenario.request.responseDelay = .with { $0.seconds = 30 }
    scenario.timeout = .milliseconds(200)
    let statuses = try await withServer { _, port in
      try await run(scenario, port: port, users: 2, duration: .milliseconds(50))
    }
    #expect(statuses.keys.sorted() == ["DEADLINE_EXCEEDED"])
    #expect(statuses["DEADLINE_EXCEEDED"] == 2)
  }

  @Test func aSilentServerStillEndsEveryCallAtItsDeadline() async throws {
    let peer = try await BarePeer.start(pingOnConnect: 0x0102_0304_0506_0708, goAwayOnFirstCall: false)
    var scenario = FixedEcho()
    scenario.timeout = .milliseconds(200)
    let statuses = try await run(scenario, port: peer.port, users: 3, duration: .milliseconds(50))
    #expect(statuses.keys.sorted() == ["DEADLINE_EXCEEDED"])
    #expect(statuses["DEADLINE_EXCEEDED"] == 3)
    // The peer was answered its PING and told of each call given up on.
    #expect(await eventually { peer.frames().filter { $0.type == 5 }.count == 3 })
    let frames = peer.frames()
    #expect(frames.contains { $0.type == 7 && $0.flags == 1 && $0.payload == [1, 2, 3, 4, 5, 6, 7, 8] })
    for cancel in frames where cancel.type == 5 {
      #expect(cancel.payload == [0, 0, 0, UInt8(RPCStatusCode.deadlineExceeded.rawValue)])
    }
    #expect(Set(frames.filter { $0.type == 5 }.map(\.callID)) == [1, 2, 3])
    try await peer.stop()
  }

  /// One call stays open while thousands of later ones come and go: the ring of open calls
  /// grows past it rather than reuse its slot, and the call still ends at its deadline.
  @Test func aCallOpenWhileTheRingWrapsKeepsItsSlot() async throws {
    let peer = try await BarePeer.start(pingOnConnect: nil, goAwayOnFirstCall: false, answerAllButTheFirst: true)
    var scenario = FixedEcho()
    scenario.timeout = .milliseconds(500)
    let statuses = try await run(scenario, port: peer.port, users: 2, duration: .milliseconds(400))
    #expect(statuses["DEADLINE_EXCEEDED"] == 1)
    #expect((statuses["OK"] ?? 0) > 1_024, "enough calls to wrap the first ring of 1,024")
    #expect(statuses.keys.sorted() == ["DEADLINE_EXCEEDED", "OK"])
    try await peer.stop()
  }

  @Test func callsAfterGoAwayFailAtOnceWithoutRecursion() async throws {
    let peer = try await BarePeer.start(pingOnConnect: nil, goAwayOnFirstCall: true)
    var scenario = FixedEcho()
    scenario.timeout = .seconds(30)
    // One user for a quarter of a second: each journey after GOAWAY fails at once, so the user
    // starts thousands of them; they must not nest.
    let statuses = try await run(scenario, port: peer.port, users: 1, duration: .milliseconds(250))
    #expect(statuses.keys.sorted() == ["UNAVAILABLE"])
    #expect((statuses["UNAVAILABLE"] ?? 0) > 1)
    try await peer.stop()
  }

  @Test func aPeerThatDoesNotSpeakTheProtocolIsRefusedClearly() async throws {
    let peer = try await BarePeer.start(pingOnConnect: nil, goAwayOnFirstCall: false, opening: Array("HTTP/1.1 400 Bad\r\n\r\n".utf8))
    await #expect {
      _ = try await LoopConnections.connect(
        host: "127.0.0.1", port: peer.port, count: 1, configuration: RPCConnection.Configuration(), scenario: FixedEcho(),
        path: .prebuilt)
    } throws: { "\($0)".contains("preface") }
    try await peer.stop()
  }
}

/// A peer on 127.0.0.1 that opens the protocol's handshake (preface and SETTINGS choosing no
/// compression, every limit at its default), then only records the frames it receives, and optionally sends a
/// PING first or GOAWAY on the first call.
final class BarePeer: Sendable {
  struct ReceivedFrame: Sendable {
    var type: UInt8
    var flags: UInt8
    var callID: UInt32
    var payload: [UInt8]
  }

  private final class Handler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let peer: BarePeer
    var buffer = ByteBuffer()
    var prefaceRead = false
    var wentAway = false

    init(peer: BarePeer) { self.peer = peer }

    func channelActive(context: ChannelHandlerContext) {
      var out = ByteBuffer(bytes: peer.opening ?? (Array("EMPRPC".utf8) + [0, 1] + [0, 0, 0, 6, 0, 0, 0, 0, 0, 0] + [0, 4, 0, 0, 0, 1]))
      if let ping = peer.pingOnConnect {
        out.writeBytes([0, 0, 0, 8, 7, 0, 0, 0, 0, 0])
        out.writeInteger(ping)
      }
      context.writeAndFlush(NIOAny(out), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      var bytes = unwrapInboundIn(data)
      buffer.writeBuffer(&bytes)
      if !prefaceRead {
        guard buffer.readableBytes >= 8 else { return }
        buffer.moveReaderIndex(forwardBy: 8)
        prefaceRead = true
      }
      while buffer.readableBytes >= 10 {
        let length = Int(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!)
        guard buffer.readableBytes >= 10 + length else { break }
        buffer.moveReaderIndex(forwardBy: 4)  // the length, read above
        let type = buffer.readInteger(as: UInt8.self)!
        let flags = buffer.readInteger(as: UInt8.self)!
        let callID = buffer.readInteger(as: UInt32.self)!
        let payload = buffer.readBytes(length: length)!
        peer.received.withLock { $0.append(ReceivedFrame(type: type, flags: flags, callID: callID, payload: payload)) }
        if type == 1, peer.answerAllButTheFirst, callID != 1 {
          var out = ByteBuffer()
          out.writeBytes([0, 0, 0, 0, 2, 0])  // MESSAGE, empty
          out.writeInteger(callID)
          out.writeBytes([0, 0, 0, 11, 4, 0])  // TRAILERS: OK, no message, no details, no metadata
          out.writeInteger(callID)
          out.writeBytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
          context.write(NIOAny(out), promise: nil)
        }
        if type == 1, peer.goAwayOnFirstCall, !wentAway {
          wentAway = true
          var out = ByteBuffer(bytes: [0, 0, 0, 12, 8, 0, 0, 0, 0, 0])
          out.writeInteger(UInt32(0))  // last call id: none processed
          out.writeInteger(UInt32(0))  // NO_ERROR
          out.writeInteger(UInt32(0))  // no debug text
          context.writeAndFlush(NIOAny(out), promise: nil)
        }
      }
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
  }

  let pingOnConnect: UInt64?
  let goAwayOnFirstCall: Bool
  /// Answer every call but the first with an empty message and OK (the first is never answered).
  let answerAllButTheFirst: Bool
  let opening: [UInt8]?
  let received = Mutex<[ReceivedFrame]>([])
  private let channel = Mutex<(any Channel)?>(nil)

  private init(pingOnConnect: UInt64?, goAwayOnFirstCall: Bool, answerAllButTheFirst: Bool, opening: [UInt8]?) {
    self.pingOnConnect = pingOnConnect
    self.goAwayOnFirstCall = goAwayOnFirstCall
    self.answerAllButTheFirst = answerAllButTheFirst
    self.opening = opening
  }

  static func start(
    pingOnConnect: UInt64?, goAwayOnFirstCall: Bool, answerAllButTheFirst: Bool = false, opening: [UInt8]? = nil
  ) async throws -> BarePeer {
    let peer = BarePeer(
      pingOnConnect: pingOnConnect, goAwayOnFirstCall: goAwayOnFirstCall, answerAllButTheFirst: answerAllButTheFirst,
      opening: opening)
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(peer: peer)) }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    peer.channel.withLock { $0 = channel }
    return peer
  }

  var port: Int { channel.withLock { $0!.localAddress!.port! } }

  func frames() -> [ReceivedFrame] { received.withLock { $0 } }

  func stop() async throws { try await channel.withLock { $0! }.close().get() }
}
