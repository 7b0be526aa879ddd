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
  static func startServer(port: Int, databaseURL: String, extra: [String] = []) async throws -> Process {
    let process = Process()
    process.executableURL = executable
    process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--database-url", databaseURL] + extra
    process.standardError = FileHandle.nullDevice
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
}
