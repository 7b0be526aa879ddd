import Messages
import NIOConcurrencyHelpers
import RPCTestSupport
import Testing
import W3CTraceContext

@testable import RPC

extension UnaryEchoService {
  /// Reports the trace a handler sees: in `ServerContext.trace` and in the task-local
  /// `RPCTrace.current`, as `context|task-local` traceparent values in the response message.
  static let traceProbe = Self { request, context in
    var response = try await EchoService().echo(request: request, context: context)
    response.message =
      "\(context.trace?.traceParentHeaderValue ?? "none")|\(RPCTrace.current?.traceParentHeaderValue ?? "none")"
    return response
  }
}

private let callerTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

@Suite("W3C trace context")
struct TraceTests {
  @Test("a handler's downstream call continues the caller's trace with a new span, with no handler code")
  func downstreamContinuesTrace() async throws {
    try await withServer { _, downstreamPort in
      try await withConnection(port: downstreamPort) { downstream in
        // The relay forwards the request as is and sets no metadata.
        let relay = UnaryEchoService.relay(to: RpcV1.EchoService.Client(downstream))
        try await withServer(services: [relay]) { _, relayPort in
          try await withConnection(port: relayPort) { connection in
            var options = CallOptions()
            options.metadata.add("traceparent", callerTrace)
            options.metadata.add("tracestate", "vendor=value")
            let response = try await RpcV1.EchoService.Client(connection).echo(
              .with { $0.echoMetadata = true }, options: options)
            let received = try #require(response.receivedMetadata["traceparent"])
            let downstreamTrace = try TraceContext(traceParentHeaderValue: received)
            let caller = try TraceContext(traceParentHeaderValue: callerTrace)
            #expect(downstreamTrace.traceID == caller.traceID)
            #expect(downstreamTrace.spanID != caller.spanID)
            #expect(downstreamTrace.flags == caller.flags)
            #expect(response.receivedMetadata["tracestate"] == "vendor=value")
          }
        }
      }
    }
  }

  @Test("the handler sees the caller's trace in its context and in RPCTrace.current")
  func handlerSeesTrace() async throws {
    try await withServer(services: [UnaryEchoService.traceProbe]) { _, port in
      try await withConnection(port: port) { connection in
        var options = CallOptions()
        options.metadata.add("traceparent", callerTrace)
        let response = try await RpcV1.EchoService.Client(connection).echo(.init(), options: options)
        #expect(response.message == "\(callerTrace)|\(callerTrace)")
      }
    }
  }

  @Test(
    "an invalid traceparent is ignored: the call succeeds in a new trace",
    arguments: [
      "garbage",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // unsupported version
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper-case hex
    ])
  func invalidTraceIgnored(header: String) async throws {
    try await withServer(services: [UnaryEchoService.traceProbe]) { _, port in
      try await withConnection(port: port) { connection in
        var options = CallOptions()
        options.metadata.add("traceparent", header)
        let response = try await RpcV1.EchoService.Client(connection).echo(.init(), options: options)
        let parts = response.message.split(separator: "|").map(String.init)
        try #require(parts.count == 2)
        #expect(parts[0] == parts[1])
        let trace = try TraceContext(traceParentHeaderValue: parts[0])  // a valid, new trace
        #expect(parts[0] != header)
        #expect(trace.traceID != TraceID.null)
      }
    }
  }

  @Test("a client outside any trace sends no traceparent (the server starts the trace); one the caller set is sent as is")
  func clientOutsideTrace() async throws {
    try await withServer(services: [UnaryEchoService.traceProbe]) { _, port in
      try await withConnection(port: port) { connection in
        let client = RpcV1.EchoService.Client(connection)
        let plain = try await client.echo(.with { $0.echoMetadata = true })
        #expect(plain.receivedMetadata["traceparent"] == nil)
        // The server started one for the handler.
        let parts = plain.message.split(separator: "|").map(String.init)
        try #require(parts.count == 2)
        let started = try TraceContext(traceParentHeaderValue: parts[0])
        #expect(started.traceID != TraceID.null)

        var options = CallOptions()
        options.metadata.add("traceparent", callerTrace)
        let kept = try await client.echo(.with { $0.echoMetadata = true }, options: options)
        #expect(kept.receivedMetadata["traceparent"] == callerTrace)
      }
    }
  }

  @Test("the traceparent written for downstream calls is the library's own format")
  func formatMatchesLibrary() throws {
    var random = TraceRandom()
    for flags in [TraceFlags(), .sampled] {
      for _ in 0..<100 {
        let context = TraceContext(
          traceID: .random(using: &random), spanID: .random(using: &random), flags: flags, state: TraceState())
        #expect(RPCTrace.traceParent(context) == context.traceParentHeaderValue)
      }
    }
  }

  @Test("a client inside RPCTrace.current continues that trace")
  func clientContinuesTaskLocal() async throws {
    try await withServer { _, port in
      try await withConnection(port: port) { connection in
        let current = try TraceContext(traceParentHeaderValue: callerTrace)
        let received = try await RPCTrace.$current.withValue(current) {
          try await RpcV1.EchoService.Client(connection).echo(.with { $0.echoMetadata = true })
            .receivedMetadata["traceparent"]
        }
        let sent = try TraceContext(traceParentHeaderValue: try #require(received))
        #expect(sent.traceID == current.traceID)
        #expect(sent.spanID != current.spanID)
        #expect(sent.flags == .sampled)
      }
    }
  }
}
