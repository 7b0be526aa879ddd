import Messages
import RPC
import TestSupport
import Testing

@testable import rpcctl

@Suite("health and ping against a running server", .timeLimit(.minutes(2)))
struct HealthAndPingTests {
  @Test("health prints the status; exit 0 when serving, 14 when not, 5 for an unknown service")
  func health() async throws {
    try await withServer { server, port in
      let whole = await rpcctl(["health"], port: port)
      #expect(whole.status == 0, "\(whole.errors)")
      #expect(whole.output == "SERVING\n")
      let echo = await rpcctl(["health", "EchoService"], port: port)
      #expect(echo.output == "SERVING\n", "\(echo.errors)")

      server.healthStatus?.setStatus(.notServing, for: "emporium.rpc.v1.EchoService")
      let down = await rpcctl(["health", "emporium.rpc.v1.EchoService"], port: port)
      #expect(down.status == 14)
      #expect(down.output == "NOT_SERVING\n")
      #expect(down.errors == "rpcctl: UNAVAILABLE: emporium.rpc.v1.EchoService is NOT_SERVING\n")

      let unknown = await rpcctl(["health", "emporium.nothing.v1.Missing"], port: port)
      #expect(unknown.status == 5)
      #expect(unknown.errors.hasPrefix("rpcctl: NOT_FOUND: "))
    }
  }

  @Test("health --watch prints each change until the deadline")
  func watch() async throws {
    try await withServer { server, port in
      let output = BufferedOutput()
      let watching = Task { await rpcctl(["health", "EchoService", "--watch", "--deadline", "3s"], port: port, output: output) }
      #expect(await eventually { output.lines == ["SERVING"] })
      server.healthStatus?.setStatus(.notServing, for: "emporium.rpc.v1.EchoService")
      #expect(await eventually { output.lines == ["SERVING", "NOT_SERVING"] })
      let result = await watching.value
      #expect(result.status == 4)
      #expect(result.errors.hasPrefix("rpcctl: DEADLINE_EXCEEDED"))
    }
  }

  @Test("ping prints each round trip and min/avg/p50/p90/max")
  func ping() async throws {
    try await withServer { _, port in
      let result = await rpcctl(["ping", "-c", "3", "--interval", "1ms"], port: port)
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.lines.count == 6)
      #expect(result.lines[0].hasPrefix("PING 127.0.0.1:\(port): connected in "))
      #expect(result.lines[1].hasPrefix("ping 1: time="))
      #expect(result.lines[3].hasPrefix("ping 3: time="))
      #expect(result.lines[4] == "--- 127.0.0.1:\(port): 3 pings, 3 answered ---")
      let statistics = result.lines[5]
      #expect(statistics.hasPrefix("round trip min/avg/p50/p90/max = ") && statistics.hasSuffix(" ms"))
      let values = statistics.dropFirst("round trip min/avg/p50/p90/max = ".count).dropLast(3).split(separator: "/").compactMap { Double($0) }
      #expect(values.count == 5)
      #expect(values[0] <= values[2] && values[2] <= values[4])
      let quiet = await rpcctl(["ping", "-c", "2", "-q", "--compression", "none"], port: port)
      #expect(quiet.lines.count == 1)
    }
  }
}
