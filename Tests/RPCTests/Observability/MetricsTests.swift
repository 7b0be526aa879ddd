import CoreMetrics
import Messages
import MetricsTestKit
import NIOCore
import TestSupport
import RPCTestSupport
import Testing

@testable import RPC

private let echoPath = RpcV1.EchoService.Echo.descriptor.path
private let expandPath = RpcV1.EchoService.Expand.descriptor.path

/// The dimensions of a per-method, per-code series.
func labels(_ method: String, _ code: String) -> [(String, String)] {
  [("method", method), ("code", code)]
}

private func bytes(_ direction: String, _ stage: String) -> [(String, String)] {
  [("direction", direction), ("stage", stage)]
}

@Suite("Metrics per method and status")
struct MetricsTests {
  @Test("server and client count calls and durations per method and status code")
  func callsByMethodAndCode() async throws {
    let serverMetrics = TestMetrics()
    let clientMetrics = TestMetrics()
    try await withServer(configure: { $0.metricsFactory = serverMetrics }) { _, port in
      try await withConnection(port: port, configure: { $0.metricsFactory = clientMetrics }) { connection in
        let client = RpcV1.EchoService.Client(connection)
        _ = try await client.echo(.with { $0.message = "one" })
        _ = try await client.echo(.with { $0.message = "two" })
        await #expect(throws: RPCError.self) {
          try await client.echo(.with { $0.failWith = .with { $0.code = 5 } })
        }
        let responses = try await client.expand(.with { $0.repeatCount = 3 }) { stream in
          var count = 0
          for try await _ in stream { count += 1 }
          return count
        }
        #expect(responses == 3)
        let missing = ProtoMethodDescriptor(
          service: "emporium.rpc.v1.Nowhere", method: "Missing", kind: .unary, inputType: "", outputType: "")
        await #expect { try await connection.unary(method: missing, request: ByteBuffer(), options: .init()) } throws: {
          ($0 as? RPCError)?.code == .unimplemented
        }

        for metrics in [serverMetrics, clientMetrics] {
          let side = metrics === serverMetrics ? "rpc_server" : "rpc_client"
          #expect(try metrics.expectCounter("\(side)_calls_total", labels(echoPath, "OK")).totalValue == 2)
          #expect(try metrics.expectCounter("\(side)_calls_total", labels(echoPath, "NOT_FOUND")).totalValue == 1)
          #expect(try metrics.expectCounter("\(side)_calls_total", labels(expandPath, "OK")).totalValue == 1)
          #expect(try metrics.expectTimer("\(side)_call_duration_seconds", labels(echoPath, "OK")).values.count == 2)
          #expect(try metrics.expectTimer("\(side)_call_duration_seconds", labels(echoPath, "NOT_FOUND")).values.count == 1)
          #expect(try metrics.expectTimer("\(side)_call_duration_seconds", labels(echoPath, "OK")).values.allSatisfy { $0 > 0 })
          // Every call that started has ended.
          #expect(try metrics.expectMeter("\(side)_in_flight", [("method", echoPath)]).lastValue == 0)
          // Only codes that happened have series.
          #expect(throws: (any Error).self) { try metrics.expectCounter("\(side)_calls_total", labels(echoPath, "INTERNAL")) }
        }
        // The server does not host the path: one series for every such path, whatever callers send.
        #expect(try serverMetrics.expectCounter("rpc_server_calls_total", labels("unknown", "UNIMPLEMENTED")).totalValue == 1)
        #expect(serverMetrics.counters(label: "rpc_server_calls_total").allSatisfy { $0.dimensions[0].1 != missing.path })
        // The client names what it called.
        #expect(try clientMetrics.expectCounter("rpc_client_calls_total", labels(missing.path, "UNIMPLEMENTED")).totalValue == 1)
      }
    }
  }

  @Test("bytes on the wire and before compression are counted in both directions")
  func bytesCounted() async throws {
    let serverMetrics = TestMetrics()
    let clientMetrics = TestMetrics()
    try await withServer(configure: { $0.metricsFactory = serverMetrics }) { _, port in
      try await withConnection(port: port, compression: .zstd, configure: { $0.metricsFactory = clientMetrics }) {
        connection in
        let client = RpcV1.EchoService.Client(connection)
        let text = String(repeating: "the order shipped after payment was captured ", count: 200)
        for _ in 0..<5 { _ = try await client.echo(.with { $0.message = text }) }
        let statistics = await connection.statistics()
        // The client's counters match what the connection reports about itself.
        func clientBytes(_ direction: String, _ stage: String) throws -> Int64 {
          try clientMetrics.expectCounter("rpc_client_bytes_total", bytes(direction, stage)).totalValue
        }
        #expect(try clientBytes("sent", "wire") == Int64(statistics.wireBytesSent))
        #expect(try clientBytes("sent", "plain") == Int64(statistics.plainBytesSent))
        #expect(try clientBytes("received", "wire") == Int64(statistics.wireBytesReceived))
        #expect(try clientBytes("received", "plain") == Int64(statistics.plainBytesReceived))
        // zstd shrinks repeated text: the plain count is well above the wire count.
        #expect(try clientBytes("sent", "plain") > 3 * clientBytes("sent", "wire"))

        // The server received what the client sent and sent what the client received.
        func serverBytes(_ direction: String, _ stage: String) throws -> Int64 {
          try serverMetrics.expectCounter("rpc_server_bytes_total", bytes(direction, stage)).totalValue
        }
        #expect(await eventually { (try? serverBytes("received", "wire")) == Int64(statistics.wireBytesSent) })
        #expect(try serverBytes("sent", "wire") == Int64(statistics.wireBytesReceived))
        #expect(try serverBytes("received", "plain") > 5 * Int64(text.utf8.count))
        #expect(try serverBytes("sent", "plain") > 5 * Int64(text.utf8.count))
      }
    }
  }

  @Test("calls in flight and open connections are gauges that go up and back down")
  func inFlightAndConnections() async throws {
    let serverMetrics = TestMetrics()
    let clientMetrics = TestMetrics()
    try await withServer(configure: { $0.metricsFactory = serverMetrics }) { _, port in
      try await withConnection(port: port, configure: { $0.metricsFactory = clientMetrics }) { connection in
        #expect(await eventually { (try? serverMetrics.expectMeter("rpc_server_connections"))?.lastValue == 1 })
        let client = RpcV1.EchoService.Client(connection)
        let slow = Task { try await client.echo(.with { $0.responseDelay = .with { $0.seconds = 2 } }) }
        #expect(await eventually {
          (try? serverMetrics.expectMeter("rpc_server_in_flight", [("method", echoPath)]))?.lastValue == 1
        })
        #expect(try clientMetrics.expectMeter("rpc_client_in_flight", [("method", echoPath)]).lastValue == 1)
        _ = try await slow.value
        #expect(try serverMetrics.expectMeter("rpc_server_in_flight", [("method", echoPath)]).lastValue == 0)
        #expect(try clientMetrics.expectMeter("rpc_client_in_flight", [("method", echoPath)]).lastValue == 0)
      }
      #expect(await eventually { (try? serverMetrics.expectMeter("rpc_server_connections"))?.lastValue == 0 })
    }
  }

  @Test("a call refused at the handler limit is counted under its method, without a duration")
  func failuresCounted() async throws {
    let serverMetrics = TestMetrics()
    let clientMetrics = TestMetrics()
    try await withServer(configure: {
      $0.metricsFactory = serverMetrics
      $0.maxRunningHandlers = 1
    }) { _, port in
      try await withConnection(port: port, configure: { $0.metricsFactory = clientMetrics }) { connection in
        let client = RpcV1.EchoService.Client(connection)
        // One slow call holds the only handler slot: the next call is refused before any handler runs.
        let slow = Task { try await client.echo(.with { $0.responseDelay = .with { $0.seconds = 10 } }) }
        #expect(await eventually {
          (try? serverMetrics.expectMeter("rpc_server_in_flight", [("method", echoPath)]))?.lastValue == 1
        })
        await #expect { try await client.echo(.init()) } throws: { ($0 as? RPCError)?.code == .resourceExhausted }
        slow.cancel()
        _ = await slow.result
        let refused = try serverMetrics.expectCounter("rpc_server_calls_total", labels(echoPath, "RESOURCE_EXHAUSTED"))
        #expect(refused.totalValue == 1)
        // A refused call never ran: it has no duration.
        let durations = try? serverMetrics.expectTimer(
          "rpc_server_call_duration_seconds", labels(echoPath, "RESOURCE_EXHAUSTED"))
        #expect(durations?.values.isEmpty ?? true)
      }
    }
  }

  @Test("calls past their deadline and cancelled calls are counted with their status on both sides")
  func deadlineAndCancellationCounted() async throws {
    let serverMetrics = TestMetrics()
    let clientMetrics = TestMetrics()
    try await withServer(configure: { $0.metricsFactory = serverMetrics }) { _, port in
      try await withConnection(port: port, configure: { $0.metricsFactory = clientMetrics }) { connection in
        let client = RpcV1.EchoService.Client(connection)
        _ = try await client.echo(.init())
        let late = await Task {
          try await client.echo(
            .with { $0.responseDelay = .with { $0.seconds = 10 } }, options: CallOptions(timeout: .seconds(2)))
        }.result
        // Two seconds: the call must reach the server before its deadline passes, on a loaded
        // machine too (at 500 ms it sometimes expired before it was sent).
        #expect(throws: RPCError(code: .deadlineExceeded, message: "deadline exceeded")) { try late.get() }
        #expect(await eventually {
          (try? serverMetrics.expectCounter("rpc_server_calls_total", labels(echoPath, "DEADLINE_EXCEEDED")))?.totalValue == 1
        })
        #expect(try clientMetrics.expectCounter("rpc_client_calls_total", labels(echoPath, "DEADLINE_EXCEEDED")).totalValue == 1)

        let cancelled = Task { try await client.echo(.with { $0.responseDelay = .with { $0.seconds = 5 } }) }
        #expect(await eventually {
          (try? serverMetrics.expectMeter("rpc_server_in_flight", [("method", echoPath)]))?.lastValue == 1
        })
        cancelled.cancel()
        _ = try? await cancelled.value
        #expect(try clientMetrics.expectCounter("rpc_client_calls_total", labels(echoPath, "CANCELLED")).totalValue == 1)
        #expect(await eventually {
          (try? serverMetrics.expectCounter("rpc_server_calls_total", labels(echoPath, "CANCELLED")))?.totalValue == 1
        })
      }
    }
  }

  @Test("with no metrics backend, nothing is created and calls still work")
  func noBackend() async throws {
    try await withServer(configure: { $0.metricsFactory = NOOPMetricsHandler.instance }) { server, port in
      #expect(!server.core.metrics.isRecording)
      #expect(server.core.router[echoPath]?.metrics == nil)
      try await withConnection(port: port, configure: { $0.metricsFactory = NOOPMetricsHandler.instance }) {
        connection in
        #expect(!connection.metrics.isRecording)
        let response = try await RpcV1.EchoService.Client(connection).echo(.with { $0.message = "quiet" })
        #expect(response.message == "quiet")
      }
    }
  }
}
