public import Logging
public import NIOCore
import NIOConcurrencyHelpers
import NIOHTTP1
public import NIOPosix
public import Prometheus
public import ServiceLifecycle

/// A small HTTP/1.1 server that answers `GET /metrics` with a Prometheus registry in the text
/// exposition format, for scrapers. Other paths get 404, other methods 405; a request larger than
/// `maxRequestSize` gets its connection closed (with 400 when a header field alone is too large),
/// and a connection that sends and receives nothing for `idleTimeout` is closed.
///
/// As a swift-service-lifecycle `Service` it serves until graceful shutdown (or cancellation),
/// then closes its listener and its connections. Give it the registry the process's
/// `MetricsSystem` factory writes to (``RPCMetrics/prometheusFactory(registry:)``), or any other.
public final class MetricsEndpoint: Service, Sendable {
  public struct Configuration: Sendable {
    /// Where to listen. Default 127.0.0.1:9464 (0 picks a free port).
    public var host = "127.0.0.1"
    public var port = 9464
    /// The most bytes one request may take, request line and headers included. Default 8 KiB.
    public var maxRequestSize = 8 << 10
    /// How long a connection may be idle before it is closed. Default 60 s.
    public var idleTimeout: TimeAmount = .seconds(60)

    public init() {}
  }

  private let registry: PrometheusCollectorRegistry
  private let configuration: Configuration
  private let group: any EventLoopGroup
  private let logger: Logger
  private let state = NIOLockedValueBox(State())
  private let address = ListeningAddress()

  private struct State {
    var listener: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    var shutdownRequested = false
  }

  public init(
    registry: PrometheusCollectorRegistry, configuration: Configuration = .init(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "emporium.metrics")
  ) {
    self.registry = registry
    self.configuration = configuration
    self.group = group
    self.logger = logger
  }

  /// The address the endpoint listens on, once it does.
  public func localAddress() async throws -> SocketAddress {
    try await address.wait()
  }


  /// The connections open now (for tests).
  var openConnectionCount: Int { state.withLockedValue { $0.connections.count } }

  /// Serves until graceful shutdown or cancellation.
  public func run() async throws {
    let registry = self.registry
    let configuration = self.configuration
    let listener: any Channel
    do {
      listener = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 64)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { [self] channel in
          channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.maxRequestSize
            limits.maxHeaderListSize = configuration.maxRequestSize
            let budget = RequestBudget(limit: configuration.maxRequestSize)
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(IdleStateHandler(allTimeout: configuration.idleTimeout))
            try sync.addHandler(budget)
            try sync.configureHTTPServerPipeline(
              withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try sync.addHandler(MetricsHTTPHandler(registry: registry, budget: budget))
            self.track(channel)
          }
        }
        .bind(host: configuration.host, port: configuration.port)
        .get()
    } catch {
      self.address.resolve(.failure(error))
      throw error
    }
    // Read once: the address is gone once the channel closes, which a shutdown may do at once.
    let address = listener.localAddress
    let alreadyShuttingDown = state.withLockedValue { state in
      state.listener = listener
      return state.shutdownRequested
    }
    self.address.resolve(
      address.map { .success($0) }
        ?? .failure(RPCError(code: .unavailable, message: "the metrics endpoint closed before it listened")))
    logger.info("serving metrics", metadata: ["address": "\(address.map { "\($0)" } ?? "?")", "path": "/metrics"])
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

  /// Closes the listener and every connection.
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
      return false
    }
    if closeNow { channel.close(promise: nil) }
    channel.closeFuture.whenComplete { [self] _ in
      _ = state.withLockedValue { $0.connections.removeValue(forKey: id) }
    }
  }
}

/// Closes a connection that sends more than `limit` bytes without completing a request (the
/// HTTP decoder bounds header fields, not the request line).
final class RequestBudget: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer

  private let limit: Int
  private var used = 0

  init(limit: Int) { self.limit = limit }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    used += unwrapInboundIn(data).readableBytes
    guard used <= limit else {
      context.close(promise: nil)
      return
    }
    context.fireChannelRead(data)
  }

  /// A request was read in full: the next one starts with a fresh budget.
  func requestCompleted() { used = 0 }
}

/// Answers each request: `/metrics` with the registry's text, else 404 or 405.
final class MetricsHTTPHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let registry: PrometheusCollectorRegistry
  private let budget: RequestBudget
  private var head: HTTPRequestHead?

  init(registry: PrometheusCollectorRegistry, budget: RequestBudget) {
    self.registry = registry
    self.budget = budget
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      self.head = head
    case .body:
      break  // GET has none; a body counts against the request budget and is dropped
    case .end:
      budget.requestCompleted()
      guard let head else { return }
      self.head = nil
      respond(to: head, context: context)
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is IdleStateHandler.IdleStateEvent {
      context.close(promise: nil)
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
    let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    var headers = HTTPHeaders()
    let status: HTTPResponseStatus
    let body: ByteBuffer
    if path != "/metrics" {
      status = .notFound
      body = ByteBuffer(string: "not found: only /metrics is served\n")
      headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
    } else if head.method != .GET && head.method != .HEAD {
      status = .methodNotAllowed
      body = ByteBuffer(string: "method not allowed: use GET\n")
      headers.add(name: "Allow", value: "GET, HEAD")
      headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
    } else {
      status = .ok
      body = ByteBuffer(bytes: registry.emitToBuffer())
      headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
    }
    headers.add(name: "Content-Length", value: "\(body.readableBytes)")
    let keepAlive = head.isKeepAlive
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
    if head.method != .HEAD {
      context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }
    let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive {
      let channel = context.channel
      written.whenComplete { _ in channel.close(promise: nil) }
    }
  }
}
