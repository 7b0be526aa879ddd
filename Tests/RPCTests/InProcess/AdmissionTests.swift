import Logging
import Messages
import MetricsTestKit
import NIOCore
import TestSupport
import RPCTestSupport
import Testing

@testable import RPC

/// The two ways to call a server's services.
enum Transport: String, Sendable, CustomTestStringConvertible {
  case socket
  case inProcess

  var testDescription: String { rawValue }
}

private let echoPath = RpcV1.EchoService.Echo.descriptor.path
private let missing = ProtoMethodDescriptor(
  service: "emporium.rpc.v1.Nowhere", method: "Missing", kind: .unary, inputType: "", outputType: "")

/// A server logging to `logs` at debug and recording into `metrics`, and a client transport to
/// it of the given kind.
private struct Harness {
  let server: RPCServer
  let port: Int
  let client: any ClientTransport
  let logs: CapturingLogHandler.Store
  let metrics: TestMetrics

  var echo: RpcV1.EchoService.Client { RpcV1.EchoService.Client(client) }

  func calls(_ method: String, _ code: String) throws -> Int64 {
    try metrics.expectCounter("rpc_server_calls_total", [("method", method), ("code", code)]).totalValue
  }

  /// The records logged with `message`.
  func logged(_ message: String) -> [CapturingLogHandler.Record] { logs.all.filter { $0.message == message } }
}

private func withHarness<Result>(
  _ transport: Transport,
  services: [any RPCService] = [EchoService()],
  interceptors: [any ServerInterceptor] = [],
  configure: (inout RPCServer.Configuration) -> Void = { _ in },
  _ body: (Harness) async throws -> Result
) async throws -> Result {
  let (logger, logs) = CapturingLogHandler.logger(level: .debug)
  let metrics = TestMetrics()
  return try await withServer(
    services: services, interceptors: interceptors, logger: logger,
    configure: {
      $0.metricsFactory = metrics
      configure(&$0)
    }
  ) { server, port in
    switch transport {
    case .inProcess:
      return try await body(
        Harness(server: server, port: port, client: InProcessTransport(server: server), logs: logs, metrics: metrics))
    case .socket:
      return try await withConnection(port: port) { connection in
        try await body(Harness(server: server, port: port, client: connection, logs: logs, metrics: metrics))
      }
    }
  }
}

/// The RPCError `body` throws (a test failure when it throws none or another error).
private func refusal(_ body: () async throws -> some Any) async -> RPCError? {
  do {
    _ = try await body()
    Issue.record("the call succeeded")
  } catch let error as RPCError {
    return error
  } catch {
    Issue.record("not an RPCError: \(error)")
  }
  return nil
}

/// A unary echo whose handler records "holding" and answers once "release" is recorded.
private func holdingEcho(_ recorder: Recorder) -> UnaryEchoService {
  UnaryEchoService { request, _ in
    recorder.record("holding")
    await recorder.wait(for: "release")
    return .with { $0.message = request.message }
  }
}

/// Records each call an interceptor sees, and logs it through the call's logger.
private struct RecordingInterceptor: ServerInterceptor {
  let recorder: Recorder

  func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
    recorder.record("intercepted \(context.method.path)")
    context.logger.debug("intercepted")
    try await next(context)
  }
}

@Suite("One admission path for every transport", .timeLimit(.minutes(1)))
struct AdmissionTests {
  @Test(
    "a handler and the interceptors log through the server's logger with the call's metadata",
    arguments: [Transport.socket, .inProcess])
  func serverLogger(transport: Transport) async throws {
    let recorder = Recorder()
    let service = UnaryEchoService { request, context in
      recorder.record("call id \(context.callID)")
      let logger = context.logger
      logger.info("handled", metadata: ["order": "\(request.message)"])
      return .with { $0.message = request.message }
    }
    try await withHarness(transport, services: [service], interceptors: [RecordingInterceptor(recorder: recorder)]) {
      harness in
      _ = try await harness.echo.echo(.with { $0.message = "o-1" })
      let handled = try #require(harness.logged("handled").first)
      #expect(handled.level == .info)
      #expect(handled.metadata["order"] == "o-1")
      #expect(handled.metadata["rpc.method"] == .string(echoPath))
      #expect(recorder.all.contains("call id \(handled.metadata["rpc.call_id"].map { "\($0)" } ?? "none")"))
      #expect(handled.metadata["trace_id"] != nil)
      let peer = try #require(handled.metadata["rpc.peer"]).description
      switch transport {
      case .inProcess: #expect(peer == "in-process")
      case .socket: #expect(peer.contains("127.0.0.1"))
      }
      // The interceptor logged with the same call metadata, and the call's end was logged.
      let intercepted = try #require(harness.logged("intercepted").first)
      #expect(intercepted.metadata["rpc.call_id"] == handled.metadata["rpc.call_id"])
      #expect(intercepted.metadata["rpc.peer"] == handled.metadata["rpc.peer"])
      let ended = try #require(harness.logged("call ended").first)
      #expect(ended.metadata["rpc.code"] == "OK")
      #expect(ended.metadata["rpc.call_id"] == handled.metadata["rpc.call_id"])
    }
  }

  @Test(
    "the server's interceptors run around every admitted call, and never for a refused one",
    arguments: [Transport.socket, .inProcess])
  func interceptors(transport: Transport) async throws {
    let recorder = Recorder()
    try await withHarness(transport, interceptors: [RecordingInterceptor(recorder: recorder)]) { harness in
      _ = try await harness.echo.echo(.with { $0.message = "one" })
      _ = try await harness.echo.expand(.with { $0.repeatCount = 2 }) { stream in
        for try await _ in stream {}
      }
      _ = await refusal { try await harness.client.unary(method: missing, request: ByteBuffer(), options: .init()) }
      #expect(
        recorder.all == [
          "intercepted \(echoPath)", "intercepted \(RpcV1.EchoService.Expand.descriptor.path)",
        ])
    }
  }

  @Test("calls are counted per method and status", arguments: [Transport.socket, .inProcess])
  func callsCounted(transport: Transport) async throws {
    try await withHarness(transport) { harness in
      _ = try await harness.echo.echo(.with { $0.message = "one" })
      _ = try await harness.echo.echo(.with { $0.message = "two" })
      _ = await refusal { try await harness.echo.echo(.with { $0.failWith = .with { $0.code = 5 } }) }
      #expect(try harness.calls(echoPath, "OK") == 2)
      #expect(try harness.calls(echoPath, "NOT_FOUND") == 1)
      #expect(
        try harness.metrics.expectTimer("rpc_server_call_duration_seconds", [("method", echoPath), ("code", "OK")])
          .values.count == 2)
      #expect(try harness.metrics.expectMeter("rpc_server_in_flight", [("method", echoPath)]).lastValue == 0)
    }
  }

  @Test(
    "an unknown method is refused with UNIMPLEMENTED, counted as method=\"unknown\" and logged",
    arguments: [Transport.socket, .inProcess])
  func unknownMethod(transport: Transport) async throws {
    try await withHarness(transport) { harness in
      let error = await refusal {
        try await harness.client.unary(method: missing, request: ByteBuffer(), options: .init())
      }
      #expect(
        error
          == RPCError.rpc(.unimplemented, .unknownMethod, "unknown method \(missing.path)", metadata: ["method": missing.path])
          .asReceived)
      #expect(try harness.calls("unknown", "UNIMPLEMENTED") == 1)
      #expect(harness.metrics.counters(label: "rpc_server_calls_total").allSatisfy { $0.dimensions[0].1 != missing.path })
      let refused = try #require(harness.logged("call refused").first)
      #expect(refused.level == .debug)
      #expect(refused.metadata["rpc.code"] == "UNIMPLEMENTED")
      #expect(refused.metadata["rpc.method"] == .string(missing.path))
    }
  }

  @Test(
    "a call past the server's running-handler limit is refused as safe to retry, counted and logged",
    arguments: [Transport.socket, .inProcess])
  func handlerLimit(transport: Transport) async throws {
    let recorder = Recorder()
    try await withHarness(transport, services: [holdingEcho(recorder)], configure: { $0.maxRunningHandlers = 1 }) {
      harness in
      let client = harness.echo
      let holding = Task { try await client.echo(.with { $0.message = "held" }) }
      await recorder.wait(for: "holding")
      let error = await refusal { try await client.echo(.init()) }
      #expect(
        error
          == RPCError.rpc(
            .resourceExhausted, .concurrencyLimit, "server is at its limit of running handlers",
            retryAfter: .milliseconds(100), refused: true
          ).asReceived)
      #expect(error?.refused == true)
      recorder.record("release")
      #expect(try await holding.value.message == "held")
      #expect(try harness.calls(echoPath, "RESOURCE_EXHAUSTED") == 1)
      #expect(try harness.calls(echoPath, "OK") == 1)
      let refused = try #require(harness.logged("call refused").first)
      #expect(refused.metadata["rpc.code"] == "RESOURCE_EXHAUSTED")
      #expect(refused.metadata["rpc.method"] == .string(echoPath))
    }
  }

  @Test(
    "call metadata over the server's header limit is refused, counted as method=\"unknown\" and logged",
    arguments: [Transport.socket, .inProcess])
  func metadataTooLarge(transport: Transport) async throws {
    try await withHarness(transport, configure: { $0.settings.maxHeaderSize = 1024 }) { harness in
      var metadata = Metadata()
      metadata.add("x-large", String(repeating: "a", count: 2000))
      let options = CallOptions(metadata: metadata)
      let error = await refusal { try await harness.echo.echo(.init(), options: options) }
      #expect(error?.code == .resourceExhausted)
      #expect(try harness.calls("unknown", "RESOURCE_EXHAUSTED") == 1)
      let refused = try #require(harness.logged("call refused").first)
      #expect(refused.metadata["rpc.code"] == "RESOURCE_EXHAUSTED")
    }
  }

  @Test(
    "a call whose deadline passed before it started fails at the caller: the server never counts it",
    arguments: [Transport.socket, .inProcess])
  func deadlineAlreadyPassed(transport: Transport) async throws {
    try await withHarness(transport) { harness in
      let options = CallOptions(deadline: .now - .seconds(1))
      let error = await refusal { try await harness.echo.echo(.init(), options: options) }
      #expect(error == RPCError.rpc(.deadlineExceeded, .deadlineTooShort, "the deadline passed before the call started"))
      #expect(harness.metrics.counters(label: "rpc_server_calls_total").isEmpty)
      #expect(harness.logged("call refused").isEmpty)
    }
  }

  @Test(
    "a draining server refuses new calls as safe to retry, counts and logs the refusal; running calls finish",
    arguments: [Transport.socket, .inProcess])
  func draining(transport: Transport) async throws {
    let recorder = Recorder()
    try await withHarness(transport, services: [holdingEcho(recorder)]) { harness in
      let expected = RPCError.rpc(.unavailable, .serverDraining, "server is shutting down", refused: true).asReceived
      switch transport {
      case .inProcess:
        let client = harness.echo
        let holding = Task { try await client.echo(.with { $0.message = "held" }) }
        await recorder.wait(for: "holding")
        harness.server.beginGracefulShutdown()
        #expect(await refusal { try await client.echo(.init()) } == expected)
        recorder.record("release")
        #expect(try await holding.value.message == "held")
      case .socket:
        // A client that read the GOAWAY sends no more calls; a raw peer sends one above its id,
        // which the server must refuse.
        let peer = try await RawPeer.connect(port: harness.port)
        try await peer.handshake()
        let request = ByteBuffer(bytes: try RpcV1.EchoRequest.with { $0.message = "held" }.serializedBytes())
        try await peer.send { buffer in
          FrameEncoder.writeCallOpen(
            callID: 1, CallOpen(path: echoPath, timeoutMicroseconds: nil, metadata: [:]), into: &buffer)
          FrameEncoder.writeMessage(callID: 1, request, endStream: true, more: false, into: &buffer)
        }
        await recorder.wait(for: "holding")
        harness.server.beginGracefulShutdown()
        #expect(try await eventually { try peer.goAwayCode() != nil })
        try await peer.send { buffer in
          FrameEncoder.writeCallOpen(
            callID: 3, CallOpen(path: echoPath, timeoutMicroseconds: nil, metadata: [:]), into: &buffer)
        }
        func trailers(_ id: UInt32) throws -> Trailers? {
          for case .trailers(id, let trailers) in try peer.frames() { return trailers }
          return nil
        }
        #expect(try await eventually { try trailers(3) != nil })
        #expect(try trailers(3).map { RPCError($0) } == expected)
        recorder.record("release")
        #expect(try await eventually { try trailers(1) != nil })
        #expect(try trailers(1)?.code == .ok)
        await peer.close()
      }
      #expect(try harness.calls(echoPath, "UNAVAILABLE") == 1)
      #expect(try harness.calls(echoPath, "OK") == 1)
      let refused = try #require(harness.logged("call refused").first)
      #expect(refused.metadata["rpc.code"] == "UNAVAILABLE")
      #expect(refused.metadata["rpc.method"] == .string(echoPath))
    }
  }
}
