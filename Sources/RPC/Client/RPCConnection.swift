public import CoreMetrics
public import Messages
public import NIOCore
public import NIOPosix

/// One client connection to an RPC server, carrying any number of concurrent calls.
///
/// `connect` returns once the handshake is complete (compression negotiated). Calls fail with
/// UNAVAILABLE once the connection closes; calls the server did not process (above its GOAWAY)
/// fail with `refused` set, so they are safe to retry. Cancelling the task of a call cancels the
/// call on the server too; deadlines are sent as the remaining time and enforced on both sides.
public final class RPCConnection: ClientTransport {
  /// How a connection connects and what it offers the server.
  public struct Configuration: Sendable {
    /// The limits and capabilities announced to the server. `settings.compression` lists the
    /// algorithms offered; the server picks (zstd when both sides offer it).
    public var settings = ConnectionSettings()
    /// How long connecting plus the handshake may take. Default 10 s.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// zstd level for requests. Default 1.
    public var zstdLevel: Int32 = 1
    /// The largest zstd window used to compress. Default 17.
    public var zstdWindowLog: Int32 = 17
    /// Run around every call, first outermost.
    public var interceptors: [any ClientInterceptor] = []
    /// Where the connection's metrics go (docs/OBSERVABILITY.md). Nil: the factory
    /// `MetricsSystem` has when the connection is made (the bootstrapped one, or one bound with
    /// `withMetricsFactory`); with none bootstrapped nothing is recorded.
    public var metricsFactory: (any MetricsFactory)?

    public init() {}

    /// Offers only `compression` (plus `none`, which every server supports).
    public mutating func offerCompression(_ compression: ConnectionSettings.Compression) {
      settings.compression = [.none, compression]
    }
  }

  let handler: ClientConnectionHandler
  let channel: any Channel
  /// Runs tasks on this connection's event loop.
  ///
  /// A caller that makes many small calls can run on it
  /// (`withTaskExecutorPreference(connection.executor) { ... }`) to skip the thread hop to the
  /// loop and back on every call. Such code must not block.
  public let executor: any TaskExecutor
  let configuration: Configuration
  /// The limits and choices the server announced in its SETTINGS (its concurrent-call limit,
  /// the compression it chose...).
  public let serverSettings: ConnectionSettings
  private let limits: ProtoDecodingLimits
  let metrics: ClientMetrics

  private init(
    channel: any Channel, handler: ClientConnectionHandler, configuration: Configuration,
    serverSettings: ConnectionSettings
  ) {
    self.channel = channel
    self.handler = handler
    self.executor = EventLoopTaskExecutor(handler.eventLoop)
    self.configuration = configuration
    self.serverSettings = serverSettings
    self.limits = ProtoDecodingLimits(maxMessageSize: Int(configuration.settings.maxMessageSize))
    self.metrics = handler.metrics
  }

  /// Connects and completes the handshake.
  public static func connect(
    host: String, port: Int, configuration: Configuration = .init(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws -> RPCConnection {
    try await connect(host: host, port: port, configuration: configuration, group: group, onGoAway: nil)
  }

  /// Connects; `onGoAway` runs (on the event loop) when the server sends GOAWAY.
  static func connect(
    host: String, port: Int, configuration: Configuration, group: any EventLoopGroup,
    onGoAway: (@Sendable () -> Void)?
  ) async throws -> RPCConnection {
    let eventLoop = group.next()
    let handler = ClientConnectionHandler(
      eventLoop: eventLoop, configuration: configuration, metrics: ClientMetrics(configured: configuration.metricsFactory))
    handler.onGoAway = onGoAway
    let channel: any Channel
    do {
      channel = try await ClientBootstrap(group: eventLoop)
        .connectTimeout(configuration.connectTimeout)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
        }
        .connect(host: host, port: port)
        .get()
    } catch {
      throw RPCError(code: .unavailable, message: "could not connect to \(host):\(port): \(error)")
    }
    let serverSettings: ConnectionSettings
    do {
      try await handler.ready.futureResult.get()
      serverSettings = try await eventLoop.submit { handler.serverSettings }.get()
    } catch {
      channel.close(promise: nil)
      throw error
    }
    return RPCConnection(channel: channel, handler: handler, configuration: configuration, serverSettings: serverSettings)
  }

  /// Completes once the connection has closed (for any reason).
  var closed: EventLoopFuture<Void> { channel.closeFuture }

  /// The compression the server chose.
  public var compression: ConnectionSettings.Compression {
    get async throws { try await handler.eventLoop.submit { self.handler.negotiatedCompression }.get() }
  }

  /// Whether new calls may start: false once the server sent GOAWAY or the connection closed.
  public var acceptsNewCalls: Bool {
    get async { (try? await handler.eventLoop.submit { self.handler.acceptsNewCalls }.get()) ?? false }
  }

  /// Bytes this connection has sent and received, on the wire and before compression.
  public func statistics() async -> ConnectionStatistics {
    (try? await handler.eventLoop.submit { self.handler.statistics }.get()) ?? ConnectionStatistics()
  }

  /// Closes the connection; open calls fail with UNAVAILABLE.
  public func close() async {
    handler.close()
    try? await channel.closeFuture.get()
  }

  /// Measures one round trip with a PING frame.
  public func ping() async throws -> Duration {
    try await handler.eventLoop.flatSubmit { self.handler.ping() }.get()
  }

  // MARK: ClientTransport

  public func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
    try await intercepted(method: method, options: options) { context in
      try await self.unary(context, request: request)
    }
  }

  /// One unary call past the client pipeline (a pool's attempt).
  func unary(_ context: ClientCallContext, request: ByteBuffer) async throws -> ByteBuffer {
    let call = ClientCall(connection: self.handler, method: context.method, decodingLimits: self.limits)
    let deadline = context.options.effectiveDeadline()
    return try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { continuation in
        if call.eventLoop.inEventLoop {
          self.handler.startUnary(
            call, request: request, options: context.options, deadline: deadline, waiter: .task(continuation))
        } else {
          self.handler.submit(
            SubmittedUnary(
              call: call, request: request, options: context.options, deadline: deadline, continuation: continuation))
        }
      }
    } onCancel: {
      call.cancel()
    }
  }

  /// The event loop this connection's I/O runs on: where
  /// ``startUnary(method:request:options:completion:)`` is called and answers.
  public var eventLoop: any EventLoop { handler.eventLoop }

  /// Starts a unary call without a task, for callers that live on the connection's event loop
  /// (a load generator's dispatcher): `completion` runs on that loop, once, with the response
  /// bytes or the call's error. Must be called on ``eventLoop``.
  ///
  /// The call is the one ``unary(method:request:options:)`` makes (the same frames, deadline,
  /// flow control and metrics), without the task's suspension and resumption around it. The
  /// connection's interceptors are async, so they cannot run here: on a connection configured
  /// with any, the call fails at once with FAILED_PRECONDITION rather than skip them. No trace
  /// context is propagated (there is no task to carry one).
  public func startUnary(
    method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions,
    completion: @escaping (Result<ByteBuffer, RPCError>) -> Void
  ) {
    handler.eventLoop.preconditionInEventLoop()
    guard configuration.interceptors.isEmpty else {
      completion(
        .failure(
          RPCError(
            code: .failedPrecondition,
            message: "startUnary runs no interceptors, and this connection has \(configuration.interceptors.count)")))
      return
    }
    let call = ClientCall(connection: handler, method: method, decodingLimits: limits)
    let deadline = options.effectiveDeadline()
    var answer = completion
    if metrics.isRecording {
      let methodMetrics = metrics.method(method)
      let started = methodMetrics.started()
      answer = { result in
        switch result {
        case .success: methodMetrics.finished(.ok, startedAt: started)
        case .failure(let error): methodMetrics.finished(error.code, startedAt: started)
        }
        completion(result)
      }
    }
    handler.startUnary(call, request: request, options: options, deadline: deadline, waiter: .callback(answer))
  }

  /// A typed ``startUnary(method:request:options:completion:)``: encodes the request and
  /// decodes the response (a response that does not decode is an INTERNAL error, as for
  /// ``ClientTransport/unary(_:_:options:)``).
  public func startUnary<M: ProtoMethod>(
    _ method: M.Type, _ request: M.Input, options: CallOptions = .init(),
    completion: @escaping (Result<M.Output, RPCError>) -> Void
  ) {
    let bytes: ByteBuffer
    do {
      bytes = try encode(request)
    } catch {
      completion(.failure(error as? RPCError ?? RPCError(code: .internal, message: "\(error)")))
      return
    }
    startUnary(method: M.descriptor, request: bytes, options: options) { result in
      completion(
        result.flatMap { bytes in
          do {
            return .success(try M.Output(decoding: bytes))
          } catch {
            return .failure(RPCError.undecodableResponse(error))
          }
        })
    }
  }

  public func withStreamingCall<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result {
    try await intercepted(method: method, options: options) { context in
      try await self.withStreamingCall(context, opened: {}, body)
    }
  }

  /// One streaming call past the client pipeline; `opened` runs once the call is open, before
  /// `body` (errors before it are safe to retry when `refused`).
  func withStreamingCall<Result: Sendable>(
    _ context: ClientCallContext, opened openedCallback: () -> Void, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result {
    let call = ClientCall(connection: self.handler, method: context.method, decodingLimits: self.limits)
    let deadline = context.options.effectiveDeadline()
    let opened = try await call.eventLoop.submit {
      self.handler.startStreaming(call, options: context.options, deadline: deadline)
    }.get()
    if !opened {
      // The call ended before it started (closed connection, deadline already passed...).
      _ = try await call.receive()
    }
    openedCallback()
    return try await withTaskCancellationHandler {
      do {
        let result = try await body(call)
        call.cancel()  // no-op when the call already ended
        return result
      } catch {
        call.cancel()
        throw error
      }
    } onCancel: {
      call.cancel()
    }
  }

  private func intercepted<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    try await ClientPipeline.run(
      method: method, options: options, interceptors: configuration.interceptors, metrics: metrics, body)
  }
}
