public import Logging
import Messages
public import NIOCore
import NIOConcurrencyHelpers
public import NIOPosix
public import ServiceLifecycle

/// A server hosting RPC services on one TCP port.
///
/// `serve()` binds, accepts connections until ``beginGracefulShutdown()`` (or cancellation of
/// the task running `serve()`), then drains: it stops accepting, sends every connection GOAWAY
/// naming the last call it will process (later calls are refused with UNAVAILABLE, marked safe
/// to retry), waits up to `drainTimeout` for running calls, cancels what is left, and returns.
/// As a swift-service-lifecycle `Service`, SIGTERM/SIGINT trigger that drain.
public final class RPCServer: Sendable, Service {
  let core: ServerCore
  let group: any EventLoopGroup
  /// Calls made through an ``InProcessTransport``, drained with the connections.
  let inProcessCalls = InProcessCalls()
  private let health: HealthService?
  private let state = NIOLockedValueBox(State())
  private let address = ListeningAddress()

  private struct State {
    var channel: (any Channel)?
    var shutdownRequested = false
  }

  /// - Parameters:
  ///   - services: the services to host (health and reflection are added unless
  ///     `configuration.builtInServices` is false).
  ///   - interceptors: run around every call, first outermost.
  public init(
    services: [any RPCService], interceptors: [any ServerInterceptor] = [], configuration: Configuration = .init(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "emporium.rpc.server")
  ) {
    var router = RPCRouter()
    for service in services { router.add(service) }
    var health: HealthService?
    if configuration.builtInServices {
      let healthService = HealthService()
      router.add(healthService)
      router.add(ReflectionService(hosted: router.services + [ReflectionService.descriptor], types: router.types))
      for service in router.services { healthService.setStatus(.serving, for: service.name) }
      healthService.setStatus(.serving, for: "")
      health = healthService
    }
    self.health = health
    self.group = group
    self.core = ServerCore(configuration: configuration, router: router, interceptors: interceptors, logger: logger)
  }

  /// The health service, to mark services serving or not (nil when built-ins are off).
  public var healthStatus: HealthService? { health }

  /// The address the server listens on, once it does (waits for `serve()` to bind).
  public func localAddress() async throws -> SocketAddress {
    try await address.wait()
  }


  /// Binds and serves until shut down; see the type's documentation.
  public func serve() async throws {
    let core = self.core
    let channel: any Channel
    do {
      channel = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 256)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.maxMessagesPerRead, value: 16)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ServerConnectionHandler(core: core, eventLoop: channel.eventLoop))
          }
        }
        .bind(host: core.configuration.host, port: core.configuration.port)
        .get()
    } catch {
      self.address.resolve(.failure(error))
      throw error
    }
    // Read once: the address is gone once the channel closes, which a shutdown may do at once.
    let address = channel.localAddress
    let alreadyShuttingDown = state.withLockedValue { state in
      state.channel = channel
      return state.shutdownRequested
    }
    self.address.resolve(
      address.map { .success($0) }
        ?? .failure(RPCError(code: .unavailable, message: "the server closed before it listened")))
    core.logger.info("listening", metadata: ["address": "\(address.map { "\($0)" } ?? "?")"])
    if alreadyShuttingDown { channel.close(promise: nil) }

    await withTaskCancellationHandler {
      try? await channel.closeFuture.get()
    } onCancel: {
      self.beginGracefulShutdown()
    }
    await drain()
  }

  /// Stops accepting connections and drains the open ones. Returns at once; `serve()` returns
  /// when the drain is over.
  public func beginGracefulShutdown() {
    let channel = state.withLockedValue { state -> (any Channel)? in
      state.shutdownRequested = true
      return state.channel
    }
    inProcessCalls.beginDraining()
    health?.shutDown()
    channel?.close(promise: nil)
  }

  private func drain() async {
    let connections = core.connections.all
    core.logger.info("draining", metadata: ["connections": "\(connections.count)"])
    for connection in connections { connection.beginDraining() }
    let timeout = core.configuration.drainTimeout
    await withTaskGroup(of: Bool.self) { group in
      group.addTask { [core, inProcessCalls] in
        await core.connections.waitUntilEmpty()
        await inProcessCalls.waitUntilEmpty()
        return true
      }
      group.addTask {
        try? await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
        return false
      }
      let drained = await group.next() ?? false
      group.cancelAll()
      if !drained {
        for connection in core.connections.all { connection.forceClose() }
        inProcessCalls.endAll(with: RPCError(code: .unavailable, message: "server shut down before the call finished"))
        await core.connections.waitUntilEmpty()
      }
    }
    core.logger.info("stopped")
  }

  /// swift-service-lifecycle: serve until graceful shutdown is requested.
  public func run() async throws {
    try await withGracefulShutdownHandler {
      try await serve()
    } onGracefulShutdown: {
      self.beginGracefulShutdown()
    }
  }
}
