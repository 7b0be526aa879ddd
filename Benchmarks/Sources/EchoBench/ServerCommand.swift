import ArgumentParser
import CommerceKit
import Dispatch
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOPosix
import RPC

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench server`: one echo server on 127.0.0.1. Prints `READY` once it listens and runs
/// until the process is terminated (SIGTERM's default action: the benchmark needs no drain),
/// or, with `--graceful` (emporium), until SIGTERM starts a graceful shutdown: GOAWAY to every
/// client, running calls finish (up to `--drain-timeout`), then the process exits with 0.
/// All three use NIO's singleton event loop group (one loop per core).
struct ServerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "server", abstract: "Runs one echo server until SIGTERM.")

  @Option(help: "emporium, grpc or nio.") var impl: Implementation
  @Option(help: "The port to listen on, on 127.0.0.1.") var port: Int
  @Option(help: "Compression the server accepts (emporium only).") var compression: CompressionChoice = .none
  @Option(
    help: "Emporium only: the zstd window log, 10...31, both the largest the server compresses with and the largest it accepts (default: the library's, 17)."
  )
  var zstdWindowLog: Int?
  @Option(help: "Emporium only: the concurrent-call limit announced to each client (default: the library's, 512).")
  var maxConcurrentCalls: Int?
  @Flag(help: "Emporium only: SIGTERM drains gracefully (GOAWAY, running calls finish) instead of killing.")
  var graceful = false
  @Option(help: "With --graceful: seconds running calls get before they are cancelled.") var drainTimeout: Double = 5
  @Option(
    help: "Emporium only: run AuthInterceptor with keys from this directory, every call needing a user's token; SIGUSR1 prints the token cache counts."
  )
  var authKeys: String?
  @Flag(help: "Emporium only: every handler runs in a task, Echo's immediate path off.") var noImmediate = false

  func validate() throws {
    if impl != .emporium
      && (compression != .none || zstdWindowLog != nil || maxConcurrentCalls != nil || graceful || authKeys != nil
        || noImmediate)
    {
      throw ValidationError(
        "--compression, --zstd-window-log, --max-concurrent-calls, --graceful, --auth-keys and --no-immediate apply to emporium only"
      )
    }
    if let zstdWindowLog, !(10...31).contains(zstdWindowLog) {
      throw ValidationError("--zstd-window-log must be in 10...31")
    }
    if let maxConcurrentCalls, maxConcurrentCalls < 1 { throw ValidationError("--max-concurrent-calls must be positive") }
  }

  func run() async throws {
    switch impl {
    case .emporium: try await serveEmporium()
    case .grpc: try await serveGRPC()
    case .nio: try await serveNIO()
    }
  }

  /// `RPCServer` with `EchoService` (and the default built-in health and reflection services),
  /// handlers on the connection's event loop and Echo's immediate path on (the defaults).
  private func serveEmporium() async throws {
    BenchMetrics.bootstrapIfRequested()
    var configuration = RPCServer.Configuration()
    configuration.host = "127.0.0.1"
    configuration.port = port
    configuration.settings.compression = compression == .zstd ? [.none, .zstd] : [.none]
    if let zstdWindowLog {
      configuration.zstdWindowLog = Int32(zstdWindowLog)
      configuration.settings.zstdWindowLogMax = UInt32(zstdWindowLog)
    }
    if let maxConcurrentCalls { configuration.settings.maxConcurrentCalls = UInt32(maxConcurrentCalls) }
    configuration.drainTimeout = .milliseconds(Int64(drainTimeout * 1_000))
    configuration.immediateHandlers = !noImmediate
    var interceptors: [any RPC.ServerInterceptor] = []
    var statistics: (any DispatchSourceSignal)?
    if let authKeys {
      let tokens = await AccessTokens(keys: try AccessTokenKeySet.load(directory: authKeys).keys)
      interceptors = [AuthInterceptor(tokens: tokens)]
      statistics = Self.onSignal(SIGUSR1) {
        let counts = tokens.cacheStatistics
        emitLine("AUTH \(counts.hits) \(counts.misses) \(counts.entries)")
      }
    }
    let service: any RPCService = authKeys == nil ? EchoService() : AuthBench.SignedInEchoService()
    let server = RPCServer(services: [service], interceptors: interceptors, configuration: configuration)
    // SIGTERM keeps its default action (exit at once) unless --graceful asks for a drain.
    let termination = graceful ? Self.onSIGTERM { server.beginGracefulShutdown() } : nil
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await server.serve() }
      _ = try await server.localAddress()
      emitLine("READY")
      try await group.waitForAll()
    }
    termination?.cancel()
    statistics?.cancel()
  }

  /// Runs `handler` on a dispatch queue when SIGTERM arrives (the signal itself is ignored).
  private static func onSIGTERM(_ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
    onSignal(SIGTERM, handler)
  }

  /// Runs `handler` on a dispatch queue when `number` arrives (the signal itself is ignored).
  private static func onSignal(_ number: Int32, _ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler(handler: handler)
    source.resume()
    return source
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
