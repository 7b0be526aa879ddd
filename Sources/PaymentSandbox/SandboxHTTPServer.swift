public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle

/// The HTTP/1.1 server of `emporium payment-sandbox`: it carries ``SandboxAPI`` requests over
/// kept-alive connections, one request at a time per connection (pipelined requests wait), with
/// JSON answers.
///
/// Each request is answered by a task of its own; when the client closes the connection first
/// (it gave up on a request the sandbox hangs), that task is cancelled and nothing is answered.
/// A connection with no request in flight that sends and receives nothing for
/// ``Configuration/idleTimeout`` is closed. Bodies above ``Configuration/maximumBodySize`` get
/// 413 and the connection is closed.
///
/// As a swift-service-lifecycle `Service` it serves until graceful shutdown (or
/// cancellation), then closes its listener and its connections.
public final class SandboxHTTPServer: Service, Sendable {
  public struct Configuration: Sendable {
    /// Where to listen. Default 127.0.0.1:7800 (0 picks a free port).
    public var host = "127.0.0.1"
    public var port = 7800
    /// The largest request body. Default 64 KiB.
    public var maximumBodySize = 64 << 10
    /// How long an idle connection stays open. Default 60 s.
    public var idleTimeout: TimeAmount = .seconds(60)

    public init() {}
  }

  private let api: SandboxAPI
  private let configuration: Configuration
  private let group: any EventLoopGroup
  private let logger: Logger
  private let state = NIOLockedValueBox(State())
  private let address = NIOLockedValueBox<(result: Result<SocketAddress, any Error>?, waiters: [CheckedContinuation<SocketAddress, any Error>])>((nil, []))

  private struct State {
    var listener: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    var accepted = 0
    var shutdownRequested = false
  }

  public init(
    api: SandboxAPI, configuration: Configuration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "emporium.payment-sandbox")
  ) {
    self.api = api
    self.configuration = configuration
    self.group = group
    self.logger = logger
  }

  /// The address the server listens on, once it does (or the error binding failed with).
  public func localAddress() async throws -> SocketAddress {
    try await withCheckedThrowingContinuation { continuation in
      let known = address.withLockedValue { state -> Result<SocketAddress, any Error>? in
        if let result = state.result { return result }
        state.waiters.append(continuation)
        return nil
      }
      if let known { continuation.resume(with: known) }
    }
  }

  /// How many connections the server has accepted so far (clients that reuse connections make
  /// few).
  public var acceptedConnections: Int { state.withLockedValue { $0.accepted } }

  /// Serves until graceful shutdown or cancellation.
  public func run() async throws {
    let listener: any Channel
    do {
      listener = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 256)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { [self] channel in
          channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(IdleStateHandler(allTimeout: configuration.idleTimeout))
            try sync.configureHTTPServerPipeline()
            try sync.addHandler(SandboxHTTPHandler(api: api, maximumBodySize: configuration.maximumBodySize))
            self.track(channel)
          }
        }
        .bind(host: configuration.host, port: configuration.port)
        .get()
    } catch {
      resolve(.failure(error))
      throw error
    }
    // Read once: the address is gone once the channel closes, which a shutdown may do at once.
    let bound = listener.localAddress
    let alreadyShuttingDown = state.withLockedValue { state in
      state.listener = listener
      return state.shutdownRequested
    }
    if let bound {
      resolve(.success(bound))
      logger.notice("payment sandbox listening", metadata: ["address": "\(bound)"])
    } else {
      resolve(.failure(ChannelError.ioOnClosedChannel))
    }
    if alreadyShuttingDown { shutdown() }
    await withGracefulShutdownHandler {
      await withTaskCancellationHandler {
        try? await listener.closeFuture.get()
      } onCancel: {
        self.shutdown()
      }
    } onGracefulShutdown: {
      self.shutdown()
    }
  }

  private func resolve(_ result: Result<SocketAddress, any Error>) {
    let waiters = address.withLockedValue { state in
      state.result = result
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(with: result) }
  }

  /// Closes the listener and every connection (their requests in flight are cancelled).
  private func shutdown() {
    let (listener, connections) = state.withLockedValue { state in
      state.shutdownRequested = true
      return (state.listener, Array(state.connections.values))
    }
    listener?.close(promise: nil)
    for connection in connections { connection.close(promise: nil) }
  }

  private func track(_ channel: any Channel) {
    let id = ObjectIdentifier(channel)
    let closeNow = state.withLockedValue { state in
      if state.shutdownRequested { return true }
      state.connections[id] = channel
      state.accepted += 1
      return false
    }
    if closeNow { channel.close(promise: nil) }
    channel.closeFuture.whenComplete { [self] _ in
      _ = state.withLockedValue { $0.connections.removeValue(forKey: id) }
    }
  }
}
