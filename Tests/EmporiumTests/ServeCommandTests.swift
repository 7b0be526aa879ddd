import Foundation
import Messages
import Postgres
import RPC
import Testing

/// `emporium serve` as an operator runs it: a real process, a real port, real signals.
@Suite("emporium serve", .serialized)
struct ServeCommandTests {
  /// The `emporium` executable built next to this test bundle.
  static var executable: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("emporium")
  }

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

  /// Starts `emporium serve` and waits until it answers health checks.
  static func startServer(
    port: Int, databaseURL: String, extra: [String] = [], standardError: FileHandle = .nullDevice
  ) async throws -> Process {
    let process = Process()
    process.executableURL = executable
    process.arguments = ["serve", "--echo", "--listen", "127.0.0.1:\(port)", "--database-url", databaseURL] + extra
    process.standardError = standardError
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
      if let connection = try? await RPCConnection.connect(host: "127.0.0.1", port: port) {
        let status = try? await RpcV1.HealthService.Client(connection).check(.init()).status
        await connection.close()
        if status == .serving { return process }
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    process.terminate()
    throw CancellationError()
  }

  static func waitForExit(_ process: Process, within timeout: Duration) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    return !process.isRunning
  }

  @Test("SIGTERM drains: the in-flight call finishes, new calls are refused, the process exits 0")
  func sigtermDrains() async throws {
    let database = try await TestCluster.createDatabase("serve_sigterm")
    let port = try Self.freePort()
    let server = try await Self.startServer(port: port, databaseURL: database, extra: ["--drain-timeout", "10"])
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
    let client = RpcV1.EchoService.Client(connection)
    let slow = Task {
      try await client.echo(.with {
        $0.message = "in flight"
        $0.responseDelay = .with { $0.nanos = 800_000_000 }
      })
    }
    try await Task.sleep(for: .milliseconds(200))
    kill(server.processIdentifier, SIGTERM)
    while await connection.acceptsNewCalls { try await Task.sleep(for: .milliseconds(5)) }
    await #expect { try await client.echo(.init()) } throws: { error in
      guard let error = error as? RPCError else { return false }
      return error.code == .unavailable && error.refused
    }
    let finished = try await slow.value
    #expect(finished.message == "in flight")
    #expect(await Self.waitForExit(server, within: .seconds(15)))
    #expect(server.terminationReason == .exit && server.terminationStatus == 0)
    await connection.close()
  }

  @Test("EchoService is hosted only with --echo")
  func echoOnlyWhenEnabled() async throws {
    let port = try Self.freePort()
    let process = Process()
    process.executableURL = Self.executable
    process.arguments = ["serve", "--no-database", "--listen", "127.0.0.1:\(port)"]
    process.standardError = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    defer { kill(process.processIdentifier, SIGTERM) }
    let deadline = ContinuousClock.now + .seconds(30)
    var connection: RPCConnection?
    while connection == nil, ContinuousClock.now < deadline {
      connection = try? await RPCConnection.connect(host: "127.0.0.1", port: port)
      if connection == nil { try await Task.sleep(for: .milliseconds(50)) }
    }
    let connected = try #require(connection)
    #expect(try await RpcV1.HealthService.Client(connected).check(.init()).status == .serving)
    await #expect { try await RpcV1.EchoService.Client(connected).echo(.init()) } throws: {
      ($0 as? RPCError)?.code == .unimplemented
    }
    await connected.close()
    kill(process.processIdentifier, SIGTERM)
    #expect(await Self.waitForExit(process, within: .seconds(15)))
  }

  @Test("SIGINT stops an idle server promptly")
  func sigintStops() async throws {
    let database = try await TestCluster.createDatabase("serve_sigint")
    let port = try Self.freePort()
    let server = try await Self.startServer(port: port, databaseURL: database)
    kill(server.processIdentifier, SIGINT)
    #expect(await Self.waitForExit(server, within: .seconds(15)))
    #expect(server.terminationStatus == 0)
    await #expect { try await RPCConnection.connect(host: "127.0.0.1", port: port) } throws: {
      ($0 as? RPCError)?.code == .unavailable
    }
  }

  @Test("a listen address that is taken is a clear error, not a hang")
  func addressInUse() async throws {
    let database = try await TestCluster.createDatabase("serve_taken")
    let port = try Self.freePort()
    let first = try await Self.startServer(port: port, databaseURL: database)
    defer { kill(first.processIdentifier, SIGTERM) }
    let second = Process()
    second.executableURL = Self.executable
    second.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--database-url", database]
    let errors = Pipe()
    second.standardError = errors
    second.standardOutput = FileHandle.nullDevice
    try second.run()
    #expect(await Self.waitForExit(second, within: .seconds(15)))
    #expect(second.terminationStatus != 0)
    let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(output.contains("Address already in use") || output.contains("in use"))
    _ = await Self.waitForExit(first, within: .seconds(1))
  }

  @Test("--metrics-port serves Prometheus metrics of the calls served, and call logs carry the trace id")
  func metricsPort() async throws {
    let database = try await TestCluster.createDatabase("serve_metrics")
    let port = try Self.freePort()
    let metricsPort = try Self.freePort()
    let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString).log")
    FileManager.default.createFile(atPath: logPath.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: logPath) }
    let log = try FileHandle(forWritingTo: logPath)
    let server = try await Self.startServer(
      port: port, databaseURL: database, extra: ["--metrics-port", "\(metricsPort)", "--log-level", "debug"],
      standardError: log)
    defer { kill(server.processIdentifier, SIGTERM) }

    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
    var options = CallOptions()
    options.metadata.add("traceparent", "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01")
    let client = RpcV1.EchoService.Client(connection)
    _ = try await client.echo(.with { $0.message = "counted" }, options: options)
    _ = try await client.echo(.with { $0.message = "counted" })
    await #expect(throws: RPCError.self) { try await client.echo(.with { $0.failWith = .with { $0.code = 5 } }) }
    await connection.close()

    let response = try Self.httpGet(port: metricsPort, path: "/metrics")
    #expect(response.hasPrefix("HTTP/1.1 200 OK"))
    #expect(response.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.EchoService/Echo",code="OK"} 2"#))
    #expect(response.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.EchoService/Echo",code="NOT_FOUND"} 1"#))
    // startServer's health checks count too.
    #expect(response.contains(#"rpc_server_calls_total{method="/emporium.rpc.v1.HealthService/Check",code="OK"}"#))
    #expect(response.contains(#"rpc_server_call_duration_seconds_bucket{method="/emporium.rpc.v1.EchoService/Echo""#))
    #expect(response.contains("rpc_server_connections"))
    #expect(try Self.httpGet(port: metricsPort, path: "/").hasPrefix("HTTP/1.1 404"))

    kill(server.processIdentifier, SIGTERM)
    #expect(await Self.waitForExit(server, within: .seconds(15)))
    #expect(server.terminationStatus == 0)
    try log.close()
    let logs = try String(contentsOf: logPath, encoding: .utf8)
    let callLines = logs.split(separator: "\n").filter { $0.contains("call ended") }
    #expect(callLines.contains { $0.contains("trace_id=5b8efff798038103d269b633813fc60c") && $0.contains("rpc.code=OK") })
    #expect(callLines.allSatisfy { $0.contains("debug") && $0.contains("rpc.method=") })
  }

  /// A blocking HTTP/1.1 GET on 127.0.0.1 with `Connection: close`: the whole response as text.
  static func httpGet(port: Int, path: String) throws -> String {
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
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
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
