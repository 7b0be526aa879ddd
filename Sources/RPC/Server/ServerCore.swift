import Logging
import Messages
import NIOConcurrencyHelpers
import Synchronization

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

  init(configuration: RPCServer.Configuration, router: RPCRouter, interceptors: [any ServerInterceptor], logger: Logger) {
    self.configuration = configuration
    self.router = router
    self.interceptors = interceptors
    self.logger = logger
    self.decodingLimits = configuration.decodingLimits
    self.handlerSlots = Slots(limit: configuration.maxRunningHandlers)
  }

  /// Runs one call's handler the same way for every transport: inside the interceptors, with
  /// the call's deadline inherited by the calls the handler makes; returns the trailers that end
  /// the call.
  func run(_ method: RPCRouter.Method, io: ServerCallIO, context: ServerContext) async -> Trailers {
    do {
      try await RPCDeadline.$current.withValue(context.deadline) {
        try await intercepted(context) { context in try await method.run(io, context) }
      }
      return Trailers(code: .ok, message: "", details: [], metadata: [:], refused: false)
    } catch let error as RPCError {
      return Trailers(error)
    } catch is CancellationError {
      return Trailers(RPCError(code: .cancelled, message: "the call was cancelled"))
    } catch {
      logger.error(
        "handler failed", metadata: ["method": "\(context.method.path)", "error": "\(String(reflecting: error))"])
      return Trailers(RPCError(code: .unknown, message: "the handler failed"))
    }
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
