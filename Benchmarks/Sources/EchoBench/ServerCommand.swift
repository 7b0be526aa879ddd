import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOPosix
import RPC

/// `echo-bench server`: one echo server on 127.0.0.1. Prints `READY` once it listens and runs
/// until the process is terminated (SIGTERM's default action: the benchmark needs no drain).
/// All three use NIO's singleton event loop group (one loop per core).
struct ServerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "server", abstract: "Runs one echo server until SIGTERM.")

  @Option(help: "emporium, grpc or nio.") var impl: Implementation
  @Option(help: "The port to listen on, on 127.0.0.1.") var port: Int
  @Option(help: "Compression the server accepts (emporium only).") var compression: CompressionChoice = .none

  func validate() throws {
    if impl != .emporium && compression != .none {
      throw ValidationError("--compression applies to emporium only")
    }
  }

  func run() async throws {
    switch impl {
    case .emporium: try await serveEmporium()
    case .grpc: try await serveGRPC()
    case .nio: try await serveNIO()
    }
  }

  /// `RPCServer` with `EchoService` (and the default built-in health and reflection services),
  /// handlers on the connection's event loop (the default).
  private func serveEmporium() async throws {
    BenchMetrics.bootstrapIfRequested()
    var configuration = RPCServer.Configuration()
    configuration.host = "127.0.0.1"
    configuration.port = port
    configuration.settings.compression = compression == .zstd ? [.none, .zstd] : [.none]
    let server = RPCServer(services: [EchoService()], configuration: configuration)
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await server.serve() }
      _ = try await server.localAddress()
      emitLine("READY")
      try await group.waitForAll()
    }
  }

  /// `GRPCServer` over `HTTP2ServerTransport.Posix`, plaintext, default configuration.
  private func serveGRPC() async throws {
    let transport = HTTP2ServerTransport.Posix(
      address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext)
    let server = GRPCServer(transport: transport, services: [GRPCEchoService()])
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await server.serve() }
      _ = try await transport.listeningAddress
      emitLine("READY")
      try await group.waitForAll()
    }
  }

  /// The bare length-prefixed echo: ``LengthPrefixedFrameDecoder`` and ``FrameEchoHandler``,
  /// with the same socket options as Emporium's server.
  private func serveNIO() async throws {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.maxMessagesPerRead, value: 16)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrameDecoder()))
          try channel.pipeline.syncOperations.addHandler(FrameEchoHandler())
        }
      }
      .bind(host: "127.0.0.1", port: port)
      .get()
    emitLine("READY")
    try await channel.closeFuture.get()
  }
}
