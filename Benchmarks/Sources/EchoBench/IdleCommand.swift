import ArgumentParser
import BenchSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Messages
import NIOCore
import NIOPosix
import RPC
import SwiftProtobufPeer

/// `echo-bench idle`: holds idle connections open, for memory per idle connection.
///
/// It opens one warm-up connection (with one call, for emporium and grpc), prints `WARM`, waits
/// for a line on stdin, opens `--connections` more (emporium: `RPCConnection.connect`, which
/// returns after the handshake, then `--calls-per-connection` echo calls with 100 B of text on
/// each, 0 by default; grpc: a `GRPCClient` each, with one unary call, since it connects
/// lazily; nio: a TCP connect), prints `CONNECTED` and a JSON line with this process's
/// resident-memory growth, and holds them until stdin closes or has another line.
struct IdleCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "idle", abstract: "Holds idle connections open (memory per idle connection).")

  @Option(help: "emporium, grpc or nio.") var impl: Implementation
  @Option(help: "The server's port on 127.0.0.1.") var port: Int
  @Option(help: "Idle connections to open after the warm-up connection.") var connections: Int = 200
  @Option(help: "Compression offered (emporium only).") var compression: CompressionChoice = .none
  @Option(
    help: "Emporium only: the zstd window log, 10...31, both the largest this side compresses with and the largest it accepts (default: the library's, 17)."
  )
  var zstdWindowLog: Int?
  @Option(help: "Emporium only: echo calls (100 B of text) each connection makes before it idles.")
  var callsPerConnection = 0

  func validate() throws {
    if impl != .emporium && (compression != .none || zstdWindowLog != nil || callsPerConnection != 0) {
      throw ValidationError("--compression, --zstd-window-log and --calls-per-connection apply to emporium only")
    }
    if let zstdWindowLog, !(10...31).contains(zstdWindowLog) {
      throw ValidationError("--zstd-window-log must be in 10...31")
    }
    guard callsPerConnection >= 0 else { throw ValidationError("--calls-per-connection must not be negative") }
  }

  struct Report: Codable {
    var connections: Int
    /// Growth of this process's VmRSS, per connection.
    var clientKiBPerConnection: Double
    /// Growth of its live heap bytes, per connection (nil without the counter and
    /// ECHO_BENCH_MALLOC_BYTES).
    var clientHeapKiBPerConnection: Double?
  }

  func run() async throws {
    switch impl {
    case .emporium: try await holdEmporium()
    case .grpc: try await holdGRPC()
    case .nio: try await holdNIO()
    }
  }

  private func measure(_ open: () async throws -> Void) async throws {
    emitLine("WARM")
    _ = await Self.stdinLine()
    let before = ProcFS.ownResidentKiB() ?? 0
    let heapBefore = MallocCounts.current()
    try await open()
    try await Task.sleep(for: .milliseconds(200))
    let after = ProcFS.ownResidentKiB() ?? 0
    let heapAfter = MallocCounts.current()
    emitLine("CONNECTED")
    var report = Report(connections: connections, clientKiBPerConnection: Double(after - before) / Double(connections))
    if let heapBefore, let heapAfter {
      report.clientHeapKiBPerConnection = Double(heapAfter.liveBytes - heapBefore.liveBytes) / 1_024 / Double(connections)
    }
    emitLine(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
    _ = await Self.stdinLine()
  }

  private func holdEmporium() async throws {
    var configuration = RPCConnection.Configuration()
    configuration.settings.compression = compression == .zstd ? [.none, .zstd] : [.none]
    if let zstdWindowLog {
      configuration.zstdWindowLog = Int32(zstdWindowLog)
      configuration.settings.zstdWindowLogMax = UInt32(zstdWindowLog)
    }
    let payloads = PayloadPool(size: 100)
    let calls = callsPerConnection
    @Sendable func call(_ connection: RPCConnection, _ index: Int) async throws {
      var request = RpcV1.EchoRequest()
      request.payload = payloads[index]
      _ = try await RpcV1.EchoService.Client(connection).echo(request)
    }
    let warm = try await RPCConnection.connect(host: "127.0.0.1", port: port, configuration: configuration)
    for index in 0..<max(1, calls) { try await call(warm, index) }
    var open: [RPCConnection] = []
    try await measure {
      for connectionIndex in 0..<connections {
        let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port, configuration: configuration)
        for index in 0..<calls { try await call(connection, connectionIndex &* 31 &+ index) }
        open.append(connection)
      }
    }
    withExtendedLifetime((warm, open)) {}
  }

  private func holdGRPC() async throws {
    let clients = try (0...connections).map { _ in
      GRPCClient(
        transport: try HTTP2ClientTransport.Posix(
          target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext))
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
      for client in clients { group.addTask { try await client.runConnections() } }
      @Sendable func call(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws {
        _ = try await client.unary(
          request: ClientRequest(message: GRPCEchoClient.Request()), descriptor: GRPCEchoClient.echo,
          serializer: ProtobufSerializer<GRPCEchoClient.Request>(),
          deserializer: ProtobufDeserializer<GRPCEchoClient.Response>(), options: .defaults
        ) { try $0.message }
      }
      try await call(clients[0])
      try await measure {
        for client in clients.dropFirst() { try await call(client) }
      }
      for client in clients { client.beginGracefulShutdown() }
      group.cancelAll()
    }
  }

  private func holdNIO() async throws {
    let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
    let warm = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
    var open: [any Channel] = []
    try await measure {
      for _ in 0..<connections { open.append(try await bootstrap.connect(host: "127.0.0.1", port: port).get()) }
    }
    withExtendedLifetime((warm, open)) {}
  }

  /// One line of stdin (nil at end of file), read on a thread of its own.
  static func stdinLine() async -> String? {
    await withCheckedContinuation { continuation in
      Thread.detachNewThread { continuation.resume(returning: readLine()) }
    }
  }
}
