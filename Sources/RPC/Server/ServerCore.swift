import CoreMetrics
import Logging
import Messages
import NIOCore
import NIOConcurrencyHelpers
import Synchronization
import W3CTraceContext

/// What every connection of one server shares: configuration, routes, interceptors, the
/// handler budget and the set of open connections.
final class ServerCore: Sendable {
  let configuration: RPCServer.Configuration
  let router: RPCRouter
  let interceptors: [any ServerInterceptor]
  let logger: Logger
  let decodingLimits: ProtoDecodingLimits
  let handlerSlots: Slots
  let connections = ConnectionSet()

  let metrics: ServerMetrics

  init(configuration: RPCServer.Configuration, router: RPCRouter, interceptors: [any ServerInterceptor], logger: Logger) {
    self.configuration = configuration
    self.interceptors = interceptors
    self.logger = logger
    self.decodingLimits = configuration.decodingLimits
    self.handlerSlots = Slots(limit: configuration.maxRunningHandlers)
    self.metrics = ServerMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
    var router = router
    router.attach(metrics)
    self.router = router
  }

  /// Runs one call's handler the same way for every transport: with the call's trace (from its
  /// `traceparent`, or a new one) and deadline in task-locals, so the calls the handler makes
  /// continue both; inside the interceptors; counted in the method's metrics. Returns the
  /// trailers that end the call.
  ///
  /// `startedAt`: the call was counted as started already (``MethodMetrics/started()``),
  /// when it waited for its request to try its method's immediate path.
  func run(_ method: RPCRouter.Method, io: ServerCallIO, context: ServerContext, startedAt: UInt64? = nil) async
    -> Trailers
  {
    var context = context
    let trace = context.trace ?? RPCTrace.incoming(context.metadata)
    context.trace = trace
    let metrics = method.metrics
    let started = startedAt ?? metrics?.started() ?? 0
    var trailers: Trailers
    do {
      try await RPCTrace.$current.withValue(trace) {
        try await RPCDeadline.$current.withValue(context.deadline) {
          if interceptors.isEmpty {
            try await method.run(io, context)
          } else {
            try await intercepted(context) { context in try await method.run(io, context) }
          }
        }
      }
      trailers = Self.ok
    } catch {
      trailers = Self.trailers(for: error, context: context)
    }
    // What the caller was told: the transport's status when the call ended before the handler.
    let code = io.endedEarly ?? trailers.code
    metrics?.finished(code, startedAt: started)
    Self.logEnd(code, context: context)
    return trailers
  }

  /// What the immediate path of a unary call decided.
  enum ImmediateOutcome {
    /// The call is answered: its response (none when it failed) and the trailers that end it.
    case answered(ByteBuffer?, Trailers)
    /// The method's immediate path left the call to its handler.
    case deferred
  }

  /// Runs a unary call's immediate path (``RPCRouter/registerUnary(_:immediate:_:)``) on the
  /// connection's event loop with its request, inside the interceptors' synchronous forms: when
  /// it answers, counted in the method's metrics
  /// (the call started at `startedAt`) and mapped to trailers as ``run(_:io:context:startedAt:)``
  /// does.
  /// `scratch` is the connection's buffer for encoding responses: it holds the response only
  /// until it is written, so one allocation serves every call of the connection.
  func runImmediately(
    _ method: RPCRouter.Method, request: ByteBuffer, context: ServerContext, startedAt: UInt64,
    scratch: inout ByteBuffer
  ) -> ImmediateOutcome {
    guard let immediate = method.immediate else { return .deferred }
    var context = context
    context.trace = context.trace ?? RPCTrace.incoming(context.metadata)
    let response: ByteBuffer?
    let trailers: Trailers
    do {
      let answer = try immediatelyIntercepted(from: 0, context) { context in
        try immediate(request, context, decodingLimits, &scratch)
      }
      guard let answer else { return .deferred }
      (response, trailers) = (answer, Self.ok)
    } catch {
      (response, trailers) = (nil, Self.trailers(for: error, context: context))
    }
    method.metrics?.finished(trailers.code, startedAt: startedAt)
    Self.logEnd(trailers.code, context: context)
    return .answered(response, trailers)
  }

  private static let ok = Trailers(code: .ok, message: "", details: [], metadata: [:], refused: false)

  /// The trailers that answer what a handler threw.
  private static func trailers(for error: any Error, context: ServerContext) -> Trailers {
    switch error {
    case let error as RPCError:
      logCause(of: error, context: context)
      return Trailers(error)
    case let error as any RPCErrorConvertible:
      let mapped = error.rpcError
      logCause(of: mapped, context: context)
      return Trailers(mapped)
    case is CancellationError:
      if let deadline = context.deadline, deadline <= .now {
        return Trailers(code: .deadlineExceeded, message: "deadline exceeded", details: [], metadata: [:], refused: false)
      }
      return Trailers(RPCError(code: .cancelled, message: "the call was cancelled"))
    default:
      context.logger.error("handler failed", metadata: ["error": "\(String(reflecting: error))"])
      return Trailers(RPCError(code: .unknown, message: "the handler failed"))
    }
  }

  private static func logEnd(_ code: RPCStatusCode, context: ServerContext) {
    if context.serverLogger.logLevel <= .debug {
      context.logger.debug("call ended", metadata: ["rpc.code": "\(code.name)"])
    }
  }

  /// Logs what led to an error the handler threw, which the caller never sees.
  private static func logCause(of error: RPCError, context: ServerContext) {
    guard let cause = error.cause else { return }
    let level: Logger.Level = error.code == .internal || error.code == .unknown ? .error : .debug
    guard context.serverLogger.logLevel <= level else { return }
    context.logger.log(
      level: level, "handler error cause",
      metadata: ["rpc.code": "\(error.code.name)", "error": "\(String(reflecting: cause))"])
  }

  // MARK: Admission

  /// Admits a new call to a hosted method, the same way for every transport: refused when
  /// `draining` (UNAVAILABLE, SERVER_DRAINING, `refused`), when the server does not host the
  /// path (UNIMPLEMENTED, UNKNOWN_METHOD) or when it runs `maxRunningHandlers` handlers
  /// (RESOURCE_EXHAUSTED, CONCURRENCY_LIMIT, `refused`); a refusal is counted and logged
  /// (``refuse(_:path:callID:peer:)``). An admitted call holds a handler slot, which the
  /// transport gives back (`handlerSlots.release()`) when the handler has run, or at once if
  /// the call ends before it starts.
  ///
  /// A connection passes `draining: false`: its drain is decided by its state machine, which
  /// still lets the calls up to its GOAWAY's last id run, and refuses later ones through
  /// ``refuse(_:path:callID:peer:)`` like its other per-connection limits.
  func admit(path: String, draining: Bool, callID: UInt32, peer: String) -> Result<RPCRouter.Method, RPCError> {
    admit(router[path], path: path, draining: draining, callID: callID, peer: peer)
  }

  /// ``admit(path:draining:callID:peer:)`` for a path received in a frame: the method is found
  /// by the path's bytes, and a `String` of them made only for a refusal.
  /// `recent` is the method the connection's previous call found (a connection usually calls a
  /// few methods over and over): when the path is its path, the bytes are compared, not hashed.
  func admit(
    pathBytes: ByteBuffer, callID: UInt32, peer: String, recent: inout RPCRouter.Method?
  ) -> Result<RPCRouter.Method, RPCError> {
    let method: RPCRouter.Method?
    if let last = recent, last.pathBytes == pathBytes {
      method = last
    } else {
      method = router[pathBytes: pathBytes]
      if method != nil { recent = method }
    }
    return admit(method, path: String(buffer: pathBytes), draining: false, callID: callID, peer: peer)
  }

  private func admit(
    _ method: RPCRouter.Method?, path: @autoclosure () -> String, draining: Bool, callID: UInt32, peer: String
  ) -> Result<RPCRouter.Method, RPCError> {
    guard !draining else {
      return .failure(refuse(Self.drainingError, path: path(), callID: callID, peer: peer))
    }
    guard let method else {
      let path = path()
      return .failure(
        refuse(
          .rpc(.unimplemented, .unknownMethod, "unknown method \(path)", metadata: ["method": path]), path: path,
          callID: callID, peer: peer))
    }
    guard handlerSlots.acquire() else {
      return .failure(
        refuse(
          .rpc(
            .resourceExhausted, .concurrencyLimit, "server is at its limit of running handlers",
            retryAfter: .milliseconds(100), refused: true),
          method: method, path: path(), callID: callID, peer: peer))
    }
    return .success(method)
  }

  /// What a draining server answers a call it does not take.
  static let drainingError = RPCError.rpc(.unavailable, .serverDraining, "server is shutting down", refused: true)

  /// Counts and logs a call refused before its handler ran, by ``admit(path:draining:callID:peer:)``
  /// or by a transport's own limits (a connection's drain, MAX_CONCURRENT_CALLS, metadata over
  /// MAX_HEADER_SIZE): the call counts in `rpc_server_calls_total` with the refusal's status
  /// (under `method="unknown"` when `path` is nil or not hosted) and is logged at debug as
  /// `call refused`. Returns `error`, the answer to send.
  @discardableResult
  func refuse(_ error: RPCError, path: String?, callID: UInt32, peer: String) -> RPCError {
    refuse(error, method: path.flatMap { router[$0] }, path: path, callID: callID, peer: peer)
  }

  private func refuse(
    _ error: RPCError, method: RPCRouter.Method?, path: String?, callID: UInt32, peer: String
  ) -> RPCError {
    if metrics.isRecording {
      (method?.metrics ?? metrics.unknownMethod)?.refused(error.code)
    }
    if logger.logLevel <= .debug {
      logger.debug(
        "call refused",
        metadata: [
          "rpc.call_id": "\(callID)", "rpc.method": "\(path ?? "")", "rpc.peer": "\(peer)",
          "rpc.code": "\(error.code.name)", "rpc.status_message": "\(error.message)",
        ])
    }
    return error
  }

  /// Runs `body` inside the interceptors, outermost first.
  ///
  /// Each interceptor's `next` is a non-escaping closure that calls the interceptor after it:
  /// the chain lives in the call's async frames, with no closure allocated on the heap per call.
  func intercepted(
    _ context: ServerContext, _ body: @Sendable (ServerContext) async throws -> Void
  ) async throws {
    try await intercepted(from: 0, context, body)
  }

  /// Runs `body` inside the interceptors' synchronous forms from `index` on
  /// (``ServerInterceptor/interceptImmediately(context:next:)``); nil when one of them, or
  /// `body`, leaves the call to the async path.
  private func immediatelyIntercepted(
    from index: Int, _ context: ServerContext, _ body: (ServerContext) throws -> ByteBuffer?
  ) throws -> ByteBuffer? {
    guard index < interceptors.endIndex else { return try body(context) }
    return try interceptors[index].interceptImmediately(context: context) { context in
      try immediatelyIntercepted(from: index + 1, context, body)
    }
  }

  /// Runs `body` inside the interceptors from `index` on.
  private func intercepted(
    from index: Int, _ context: ServerContext, _ body: @Sendable (ServerContext) async throws -> Void
  ) async throws {
    guard index < interceptors.endIndex else { return try await body(context) }
    try await interceptors[index].intercept(context: context) { context in
      try await intercepted(from: index + 1, context, body)
    }
  }

  /// A counting semaphore that never waits.
  final class Slots: Sendable {
    private let used = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func acquire() -> Bool {
      let after = used.add(1, ordering: .relaxed).newValue
      if after > limit {
        used.subtract(1, ordering: .relaxed)
        return false
      }
      return true
    }

    func release() { used.subtract(1, ordering: .relaxed) }
  }

  /// The open connections, so shutdown can drain them, and a way to wait until none is left.
  final class ConnectionSet: Sendable {
    private struct State {
      var handlers: [ObjectIdentifier: ServerConnectionHandler] = [:]
      var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    func add(_ handler: ServerConnectionHandler) {
      state.withLockedValue { $0.handlers[ObjectIdentifier(handler)] = handler }
    }

    func remove(_ handler: ServerConnectionHandler) {
      let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
        state.handlers[ObjectIdentifier(handler)] = nil
        guard state.handlers.isEmpty else { return [] }
        defer { state.waiters = [] }
        return state.waiters
      }
      for waiter in waiters { waiter.resume() }
    }

    var all: [ServerConnectionHandler] { state.withLockedValue { Array($0.handlers.values) } }

    var count: Int { state.withLockedValue { $0.handlers.count } }

    /// Returns when no connection is open.
    func waitUntilEmpty() async {
      await withCheckedContinuation { continuation in
        let empty = state.withLockedValue { state -> Bool in
          if state.handlers.isEmpty { return true }
          state.waiters.append(continuation)
          return false
        }
        if empty { continuation.resume() }
      }
    }
  }
}
