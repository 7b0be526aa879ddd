import Foundation
import Messages
import PostgresEmbedded
import RPC
import TestSupport
import Testing

/// `emporium serve` as an operator runs it: a real process, a real port, real signals.
@Suite("emporium serve", .serialized)
struct ServeCommandTests {
  /// The `emporium` executable built next to this test bundle.
  static var executable: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emporium")
  }

  /// A loopback port that was free a moment ago (bound, then released): another process may
  /// take it before the server binds it, so use it only where the server cannot bind port 0,
  /// and retry on "Address already in use" (``startServer(databaseURL:extra:metricsPort:)``).
  static func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  /// A running `emporium serve` and the ports it reported.
  struct Server {
    var process: Process
    var port: Int
    var metricsPort: Int?
    var output: ProcessOutput
  }

  struct ServerDidNotStart: Error, CustomStringConvertible {
    var output: String
    var description: String { "emporium serve did not start:\n\(output)" }
  }

  /// Starts `emporium serve --listen 127.0.0.1:0` (the server binds a free port itself) and
  /// returns once it logged the address it listens on. `--metrics-port` has no "any port" value
  /// (0 turns it off), so with `metricsPort` a free port is picked and the start retried while
  /// that port turns out taken.
  static func startServer(
    databaseURL: String, extra: [String] = [], metricsPort: Bool = false, echo: Bool = true
  ) async throws -> Server {
    for _ in 0..<5 {
      let chosenMetricsPort = metricsPort ? try freePort() : nil
      let output = ProcessOutput()
      let process = Process()
      process.executableURL = executable
      process.arguments =
        ["serve", "--listen", "127.0.0.1:0", "--database-url", databaseURL] + (echo ? ["--echo"] : [])
        + (chosenMetricsPort.map { ["--metrics-port", "\($0)"] } ?? []) + extra
      process.standardOutput = FileHandle.nullDevice
      try output.run(process)
      let port = await output.waitFor { text -> Int? in
        let metricsReady = chosenMetricsPort == nil || text.contains("serving metrics")
        return metricsReady ? listeningPort(in: text) : nil
      }
      if let port {
        return Server(process: process, port: port, metricsPort: chosenMetricsPort, output: output)
      }
      if process.isRunning { process.terminate() }
      await process.exited()
      guard chosenMetricsPort != nil, output.text.contains("in use") else {
        throw ServerDidNotStart(output: output.text)
      }
    }
    throw ServerDidNotStart(output: "the metrics port was taken five times")
  }

  /// The port in the server's "listening" log line (`address=[IPv4]127.0.0.1/127.0.0.1:PORT`).
  static func listeningPort(in text: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasSuffix(" listening") {
      guard let start = line.range(of: "address=") else { continue }
      let address = line[start.upperBound...].prefix { $0 != " " }
      guard let colon = address.lastIndex(of: ":") else { continue }
      return Int(address[address.index(after: colon)...])
    }
    return nil
  }

  /// Whether `process` exits within `timeout`.
  static func waitForExit(_ process: Process, within timeout: Duration) async -> Bool {
    await eventually(within: timeout) { !process.isRunning }
  }

  /// Runs `emporium serve` with `arguments` (without EMPORIUM_DATABASE_URL from the
  /// environment), expects it to exit unsuccessfully within `timeout`, and returns what it
  /// wrote to standard error.
  static func failedStart(_ arguments: [String], within timeout: Duration = .seconds(60)) async throws -> String {
    let process = Process()
    process.executableURL = executable
    process.arguments = ["serve"] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["EMPORIUM_DATABASE_URL"] = nil
    process.environment = environment
    let errors = ChildPipe()
    process.standardOutput = FileHandle.nullDevice
    try errors.run(process, asStandardError: true)
    // Read while it runs, so that it never waits for room to write.
    async let text = errors.reading.readToEndOffThePool()
    let exited = await waitForExit(process, within: timeout)
    #expect(exited)
    if exited { #expect(process.terminationStatus != 0) } else { process.terminate() }
    return String(decoding: await text, as: UTF8.self)
  }

  @Test("SIGTERM drains: the in-flight call finishes, new calls are refused, the process exits 0")
  func sigtermDrains() async throws {
    let database = try await TestCluster.createDatabase("serve_sigterm")
    let server = try await Self.startServer(databaseURL: database, extra: ["--drain-timeout", "10"])
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: server.port)
    let client = RpcV1.EchoService.Client(connection)
    // Two responses, 2 s apart: the first one proves the call is open on the server, and the
    // second is still to come when SIGTERM arrives.
    let messages = try await client.expand(
      .with {
        $0.message = "in flight"
        $0.repeatCount = 2
        $0.responseDelay = .with { $0.seconds = 2 }
      }
    ) { responses in
      var messages: [String] = []
      for try await response in responses {
        messages.append(response.message)
        if messages.count == 1 {
          kill(server.process.processIdentifier, SIGTERM)
          #expect(await eventually { await !connection.acceptsNewCalls })
          await #expect { try await client.echo(.init()) } throws: { error in
            guard let error = error as? RPCError else { return false }
            return error.code == .unavailable && error.refused
          }
        }
      }
      return messages
    }
    #expect(messages == ["in flight", "in flight"])
    #expect(await Self.waitForExit(server.process, within: .seconds(15)))
    #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0)
    await connection.close()
  }

  @Test("EchoService is hosted only with --echo")
  func echoOnlyWhenEnabled() async throws {
    let database = try await TestCluster.createDatabase("serve_command_no_echo")
    let server = try await Self.startServer(databaseURL: database, extra: [], echo: false)
    defer { kill(server.process.processIdentifier, SIGTERM) }
    let connected = try await RPCConnection.connect(host: "127.0.0.1", port: server.port)
    #expect(try await RpcV1.HealthService.Client(connected).check(.init()).status == .serving)
    await #expect { try await RpcV1.EchoService.Client(connected).echo(.init()) } throws: {
      ($0 as? RPCError)?.code == .unimplemented
    }
    await connected.close()
    kill(server.process.processIdentifier, SIGTERM)
    #expect(await Self.waitForExit(server.process, within: .seconds(15)))
  }

  @Test("SIGINT stops an idle server promptly")
  func sigintStops() async throws {
    let database = try await TestCluster.createDatabase("serve_sigint")
    let server = try await Self.startServer(databaseURL: database)
    kill(server.process.processIdentifier, SIGINT)
    #expect(await Self.waitForExit(server.process, within: .seconds(15)))
    #expect(server.process.terminationStatus == 0)
    await #expect { try await RPCConnection.connect(host: "127.0.0.1", port: server.port) } throws: {
      ($0 as? RPCError)?.code == .unavailable
    }
  }

  @Test("a listen address that is taken is a clear error, not a hang")
  func addressInUse() async throws {
    let database = try await TestCluster.createDatabase("serve_taken")
    let first = try await Self.startServer(databaseURL: database)
    defer { kill(first.process.processIdentifier, SIGTERM) }
    let output = try await Self.failedStart(["--listen", "127.0.0.1:\(first.port)", "--database-url", database], within: .seconds(15))
    #expect(output.contains("Address already in use") || output.contains("in use"))
  }

  @Test("--metrics-port serves Prometheus metrics of the calls served, and call logs carry the trace id")
  func metricsPort() async throws {
    let database = try await TestCluster.createDatabase("serve_metrics")
    let server = try await Self.startServer(
      databaseURL: database, extra: ["--log-level", "debug"], metricsPort: true)
    defer { kill(server.process.processIdentifier, SIGTERM) }
    let metricsPort = try #require(server.metricsPort)

    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: server.port)
    var options = CallOptions()
    options.metadata.add("traceparent", "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01")
    let client = RpcV1.EchoService.Client(connection)
    #expect(try await RpcV1.HealthService.Client(connection).check(.init()).status == .serving)
    _ = try await client.echo(.with { $0.message = "counted" }, options: options)
    _ = try await client.echo(.with { $0.message = "counted" })
    await #expect(throws: RPCError.self) { try await client.echo(.with { $0.failWith = .with { $0.code = 5 } }) }
    await connection.close()

    let response = try Self.httpGet(port: metricsPort, path: "/metrics")
    #expect(response.hasPrefix("HTTP/1.1 200 OK"))
    #expect(response.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.EchoService/Echo",code="OK"} 2"#))
    #expect(response.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.EchoService/Echo",code="NOT_FOUND"} 1"#))
    #expect(response.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.HealthService/Check",code="OK"} 1"#))
    #expect(response.contains(#"rpc_server_call_duration_seconds_bucket{method="/emporium.rpc.v1.EchoService/Echo""#))
    #expect(response.contains("rpc_server_connections"))
    #expect(try Self.httpGet(port: metricsPort, path: "/").hasPrefix("HTTP/1.1 404"))

    kill(server.process.processIdentifier, SIGTERM)
    #expect(await Self.waitForExit(server.process, within: .seconds(15)))
    #expect(server.process.terminationStatus == 0)
    // The four calls' log lines, written before the process exited. Waiting for them, not for
    // the end of the output: once in a while the pipe's readability handler reported the end
    // more than a minute after the process had exited, though everything before it had arrived
    // (this was the only test that waited for the end that way).
    let callLines =
      await server.output.waitFor { text -> [Substring]? in
        let lines = text.split(separator: "\n").filter { $0.contains("call ended") }
        return lines.count >= 4 ? lines : nil
      } ?? []
    #expect(callLines.count == 4)
    #expect(callLines.contains { $0.contains("trace_id=5b8efff798038103d269b633813fc60c") && $0.contains("rpc.code=OK") })
    #expect(callLines.allSatisfy { $0.contains("debug") && $0.contains("rpc.method=") })
  }

  /// A blocking HTTP/1.1 GET on 127.0.0.1 with `Connection: close` (and `headers`, each
  /// "Name: value"): the whole response as text.
  static func httpGet(port: Int, path: String, headers: [String] = []) throws -> String {
    struct SocketError: Error { let operation: String }
    let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketError(operation: "socket") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw SocketError(operation: "connect") }
    let extra = headers.map { $0 + "\r\n" }.joined()
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\(extra)\r\n".utf8)
    guard send(fd, request, request.count, 0) == request.count else { throw SocketError(operation: "send") }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
      let count = recv(fd, &chunk, chunk.count, 0)
      if count < 0 { throw SocketError(operation: "recv") }
      if count == 0 { break }
      response += chunk[..<count]
    }
    return String(decoding: response, as: UTF8.self)
  }
}
