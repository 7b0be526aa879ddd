import Messages
import NIOCore
import Prometheus
import RPCTestSupport
import Testing

@testable import RPC

/// A metrics endpoint on a free loopback port serving `registry` for the duration of `body`.
func withMetricsEndpoint<Result>(
  registry: PrometheusCollectorRegistry, configure: (inout MetricsEndpoint.Configuration) -> Void = { _ in },
  _ body: (Int) async throws -> Result
) async throws -> Result {
  var configuration = MetricsEndpoint.Configuration()
  configuration.port = 0
  configure(&configuration)
  let endpoint = MetricsEndpoint(registry: registry, configuration: configuration)
  let running = Task { try await endpoint.run() }
  defer { running.cancel() }
  let port = try await endpoint.localAddress().port!
  return try await body(port)
}

private func get(_ path: String, method: String = "GET") -> String {
  "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
}

@Suite("Prometheus endpoint")
struct MetricsEndpointTests {
  @Test("GET /metrics over a real socket shows the server's calls by method and code")
  func scrape() async throws {
    let registry = PrometheusCollectorRegistry()
    let factory = RPCMetrics.prometheusFactory(registry: registry)
    try await withMetricsEndpoint(registry: registry) { metricsPort in
      try await withServer(configure: { $0.metricsFactory = factory }) { _, port in
        try await withConnection(port: port) { connection in
          let client = RpcV1.EchoService.Client(connection)
          _ = try await client.echo(.with { $0.message = "scraped" })
          await #expect(throws: RPCError.self) { try await client.echo(.with { $0.failWith = .with { $0.code = 7 } }) }
        }
        let response = try await rawHTTP(port: metricsPort, get("/metrics"))
        #expect(response.statusCode == 200)
        #expect(response.text.contains("Content-Type: text/plain; version=0.0.4"))
        let body = response.body
        #expect(body.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.EchoService/Echo",code="OK"} 1"#))
        #expect(
          body.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.EchoService/Echo",code="PERMISSION_DENIED"} 1"#))
        #expect(body.contains("# TYPE rpc_server_call_duration_seconds histogram"))
        // Buckets fine enough for fast calls (100 µs), and every call in +Inf.
        #expect(
          body.contains(
            #"rpc_server_call_duration_seconds_bucket{method="/emporium.rpc.v1.EchoService/Echo",code="OK",le="0.0001"}"#))
        #expect(
          body.contains(
            #"rpc_server_call_duration_seconds_count{method="/emporium.rpc.v1.EchoService/Echo",code="OK"} 1"#))
        #expect(body.contains(#"rpc_server_in_flight{method="/emporium.rpc.v1.EchoService/Echo"} 0"#))
        #expect(body.contains(#"rpc_server_bytes_total{direction="received",stage="wire"}"#))
        #expect(body.contains("rpc_server_connections"))
      }
    }
  }

  @Test("other paths get 404 and other methods 405")
  func notFoundAndMethodNotAllowed() async throws {
    try await withMetricsEndpoint(registry: PrometheusCollectorRegistry()) { port in
      let missing = try await rawHTTP(port: port, get("/other"))
      #expect(missing.statusCode == 404)
      let post = try await rawHTTP(port: port, get("/metrics", method: "POST"))
      #expect(post.statusCode == 405)
      #expect(post.text.contains("Allow: GET, HEAD"))
      let head = try await rawHTTP(port: port, get("/metrics?x=1", method: "HEAD"))
      #expect(head.statusCode == 200)
    }
  }

  @Test("keep-alive: several scrapes on one connection")
  func keepAlive() async throws {
    let registry = PrometheusCollectorRegistry()
    registry.makeCounter(name: "probe_total").increment()
    try await withMetricsEndpoint(registry: registry) { port in
      let request = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
      let response = try await rawHTTP(port: port, request + request + get("/metrics"))
      #expect(response.text.ranges(of: "HTTP/1.1 200 OK").count == 3)
      #expect(response.closedByServer)
    }
  }

  @Test("a request larger than the limit gets its connection closed without metrics")
  func oversizedRequest() async throws {
    let registry = PrometheusCollectorRegistry()
    registry.makeCounter(name: "probe_total").increment()
    try await withMetricsEndpoint(registry: registry, configure: { $0.maxRequestSize = 1024 }) { port in
      let longPath = "/metrics?" + String(repeating: "a", count: 4096)
      let response = try await rawHTTP(port: port, get(longPath), timeout: .seconds(5))
      #expect(response.closedByServer)
      #expect(!response.text.contains("probe_total"))
      let longHeader = "GET /metrics HTTP/1.1\r\nX-Filler: \(String(repeating: "b", count: 4096))\r\n\r\n"
      let second = try await rawHTTP(port: port, longHeader, timeout: .seconds(5))
      #expect(second.closedByServer)
      #expect(!second.text.contains("probe_total"))
      // Small requests are still served.
      #expect(try await rawHTTP(port: port, get("/metrics")).body.contains("probe_total 1"))
    }
  }

  @Test("an idle connection is closed")
  func idleClosed() async throws {
    try await withMetricsEndpoint(
      registry: PrometheusCollectorRegistry(), configure: { $0.idleTimeout = .milliseconds(200) }
    ) { port in
      let started = ContinuousClock.now
      let response = try await rawHTTP(port: port, "", timeout: .seconds(10))
      #expect(response.closedByServer)
      // Closed by the server's 200 ms idle timeout, well before the client's 10 s (slack for a
      // loaded machine).
      #expect(started.duration(to: .now) < .seconds(8))
    }
  }

  @Test("the endpoint stops on graceful shutdown, closing open connections")
  func stops() async throws {
    var configuration = MetricsEndpoint.Configuration()
    configuration.port = 0
    let endpoint = MetricsEndpoint(registry: PrometheusCollectorRegistry(), configuration: configuration)
    let running = Task { try await endpoint.run() }
    let port = try await endpoint.localAddress().port!
    let idle = Task { try await rawHTTP(port: port, "", timeout: .seconds(20)) }
    // Shut down only once the endpoint has accepted the connection (a connection still in the
    // listener's backlog would be reset, not closed).
    let acceptedBy = ContinuousClock.now + .seconds(15)
    while endpoint.openConnectionCount == 0 && ContinuousClock.now < acceptedBy {
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(endpoint.openConnectionCount == 1)
    running.cancel()
    try await running.value
    #expect(try await idle.value.closedByServer)
    await #expect(throws: (any Error).self) { try await rawHTTP(port: port, get("/metrics")) }
  }
}
