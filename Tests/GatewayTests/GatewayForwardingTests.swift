import CommerceKit
import EmporiumGateway
import Foundation
import Logging
import Messages
import NIOCore
import RPC
import RPCTestSupport
import ServiceLifecycle
import Synchronization
import Testing
import W3CTraceContext

/// What the service behind the gateway saw of each Echo call.
final class Witness: Sendable {
  struct Seen: Sendable {
    var remaining: Duration?
    var traceID: String?
    var forwardedFor: String?
  }
  let seen = Mutex<[Seen]>([])
  /// "started" when a held call begins, "cancelled" when it is cancelled.
  let events: AsyncStream<String>
  private let announce: AsyncStream<String>.Continuation

  init() {
    (events, announce) = AsyncStream.makeStream(of: String.self)
  }

  var service: UnaryEchoService {
    UnaryEchoService { [self] request, context in
      seen.withLock {
        $0.append(
          Seen(
            remaining: context.deadline.map { $0 - ContinuousClock.now }, traceID: context.trace.map { "\($0.traceID)" },
            forwardedFor: context.metadata[AuthInterceptor.forwardedForKey]))
      }
      if request.message == "hold" {
        announce.yield("started")
        // Held until the call is cancelled: by the caller, or by its deadline.
        let (never, _) = AsyncStream.makeStream(of: Int.self)
        for await _ in never {}
        announce.yield(Task.isCancelled ? "cancelled" : "ended")
        throw CancellationError()
      }
      return .with { $0.message = request.message }
    }
  }
}

/// A gateway routing EchoService to a server of its own: one process boundary, over sockets and
/// the gateway's pool, with nothing else in the way.
func withEchoBehindGateway(_ body: (RPCConnection, Witness) async throws -> Void) async throws {
  let witness = Witness()
  try await withServer(services: [witness.service]) { _, upstreamPort in
    var configuration = Gateway.Configuration()
    configuration.server.port = 0
    configuration.routes = [GatewayRoute(service: RpcV1.EchoService.descriptor, peer: "echo")]
    configuration.peers = ["echo": StaticEndpoints([Endpoint(host: "127.0.0.1", port: upstreamPort)])]
    let logger = Logger(label: "gateway-forwarding-test")
    let gateway = try Gateway(configuration, tokens: await AccessTokens(keys: try .ephemeral()), logger: logger)
    try await running(gateway, logger: logger) { _ in
      try await withConnection(port: try await gateway.server.localAddress().port!) { connection in
        try await body(connection, witness)
      }
    }
  }
}

@Suite("API gateway forwarding: deadlines, trace context and cancellation cross it; every call shape streams through")
struct GatewayForwardingTests {
  @Test("the caller's deadline and trace reach the service behind the gateway, with the client's address")
  func deadlineAndTrace() async throws {
    try await withEchoBehindGateway { connection, witness in
      let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
      let options = CallOptions(timeout: .seconds(20), metadata: ["traceparent": "00-\(traceID)-00f067aa0ba902b7-01"])
      let answer = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "hi" }, options: options)
      #expect(answer.message == "hi")
      let seen = try #require(witness.seen.withLock { $0.first })
      let remaining = try #require(seen.remaining)
      #expect(remaining > .seconds(5) && remaining <= .seconds(20))
      #expect(seen.traceID == traceID)
      #expect(seen.forwardedFor == "127.0.0.1")
    }
  }

  @Test("a caller that cancels cancels the service's handler behind the gateway")
  func cancellation() async throws {
    try await withEchoBehindGateway { connection, witness in
      var events = witness.events.makeAsyncIterator()
      let call = Task { try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "hold" }) }
      #expect(await events.next() == "started")
      call.cancel()
      #expect(await events.next() == "cancelled")
      await #expect(throws: (any Error).self) { _ = try await call.value }
    }
  }

  @Test("a deadline that passes ends the call with DEADLINE_EXCEEDED and cancels the handler behind the gateway")
  func deadlinePasses() async throws {
    try await withEchoBehindGateway { connection, witness in
      var events = witness.events.makeAsyncIterator()
      let error = await #expect(throws: RPCError.self) {
        _ = try await RpcV1.EchoService.Client(connection).echo(
          .with { $0.message = "hold" }, options: CallOptions(timeout: .milliseconds(500)))
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(await events.next() == "started")
      #expect(await events.next() == "cancelled")
    }
  }

  @Test("server-, client- and bidirectional streams are forwarded message by message")
  func streams() async throws {
    try await withEchoBehindGateway { connection, _ in
      let client = RpcV1.EchoService.Client(connection)
      let expanded = try await client.expand(.with {
        $0.message = "x"
        $0.repeatCount = 3
      }) { stream in try await stream.reduce(into: [Int32]()) { $0.append($1.sequence) } }
      #expect(expanded == [0, 1, 2])
      let collected = try await client.collect { writer in
        for part in ["a", "b", "c"] { try await writer.write(.with { $0.message = part }) }
      }
      #expect(collected.message == "abc")
      let updated = try await client.update { writer in
        for part in ["p", "q"] { try await writer.write(.with { $0.message = part }) }
      } responses: { stream in try await stream.reduce(into: [String]()) { $0.append($1.message) } }
      #expect(updated == ["p", "q"])
    }
  }
}
