import CoreMetrics
import Logging
import Messages
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
  func run(_ method: RPCRouter.Method, io: ServerCallIO, context: ServerContext) async -> Trailers {
    var context = context
    let trace = context.trace ?? RPCTrace.incoming(context.metadata)
    context.trace = trace
    let metrics = method.metrics
    let started = metrics?.started() ?? 0
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
      trailers = Trailers(code: .ok, message: "", details: [], metadata: [:], refused: false)
    } catch let error as RPCError {
      Self.logCause(of: error, context: context)
      trailers = Trailers(error)
    } catch let error as any RPCErrorConvertible {
      let mapped = error.rpcError
      Self.logCause(of: mapped, context: context)
      trailers = Trailers(mapped)
    } catch is CancellationError {
      if let deadline = context.deadline, deadline <= .now {
        trailers = Trailers(code: .deadlineExceeded, message: "deadline exceeded", details: [], metadata: [:], refused: false)
      } else {
        trailers = Trailers(RPCError(code: .cancelled, message: "the call was cancelled"))
      }
    } catch {
      context.logger.error("handler failed", metadata: ["error": "\(String(reflecting: error))"])
      trailers = Trailers(RPCError(code: .unknown, message: "the handler failed"))
    }
    // What the caller was told: the transport's status when the call ended before the handler.
    let code = io.endedEarly ?? trailers.code
    metrics?.finished(code, startedAt: started)
    if context.serverLogger.logLevel <= .debug {
      context.logger.debug("call ended", metadata: ["rpc.code": "\(code.name)"])
    }
    return trailers
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

  /// Counts a call refused before it reached ``run(_:io:context:)`` (unknown method, handler
  /// limit, draining, connection limits): `path` nil or not hosted counts as
  /// `method="unknown"`.
  func refused(path: String?, code: RPCStatusCode) {
    guard metrics.isRecording else { return }
    let method = path.flatMap { router[$0]?.metrics } ?? metrics.unknownMethod
    method?.refused(code)
  }

  /// Runs `body` inside the interceptors, outermost first.
  func intercepted(
    _ context: ServerContext, _ body: @escaping @Sendable (ServerContext) async throws -> Void
  ) async throws {
    guard !interceptors.isEmpty else { return try await body(context) }
    var next = body
    for interceptor in interceptors.reversed() {
      let inner = next
      next = { context in try await interceptor.intercept(context: context, next: inner) }
    }
    try await next(context)
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
