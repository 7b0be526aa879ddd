public import Logging
public import Messages
public import NIOCore
public import NIOPosix
import CoreMetrics
import Synchronization

/// A client transport over connections to several endpoints of one service.
///
/// - Connections open lazily (the first call connects to every endpoint) and scale up, one at a
///   time, when every open connection has reached the server's concurrent-call limit, up to
///   `maxConnectionsPerEndpoint`. When all are full, calls wait in a queue of
///   `maxQueuedCalls` until their deadline; past the bound they fail at once with
///   RESOURCE_EXHAUSTED. Connections idle for `idleTimeout` close, down to
///   `minConnectionsPerEndpoint`.
/// - Each call goes to the less loaded (by calls in flight) of two random endpoints.
/// - An endpoint that cannot be connected to is ejected and probed again after an exponential
///   backoff with jitter, for as long as the pool lives. When every endpoint is ejected, calls
///   fail at once with UNAVAILABLE naming the errors. A connection that received GOAWAY takes
///   no new calls.
/// - Calls the server refused before processing them (above a GOAWAY, or refused for
///   overload) are retried transparently on another connection. Methods with a
///   ``RetryPolicy`` are also retried on the policy's codes, within the call's deadline and the
///   pool's ``RetryBudget``.
///
/// Generated clients take a pool like any transport: `RpcV1.EchoService.Client(pool)`.
public final class RPCClientPool: ClientTransport {
  /// How a pool connects, balances and retries.
  public struct Configuration: Sendable {
    /// How each connection connects and what it offers; its interceptors are not used (the
    /// pool's `interceptors` run once per call, around every attempt).
    public var connection = RPCConnection.Configuration()
    /// Run around every call (once, whatever the retries), first outermost.
    public var interceptors: [any ClientInterceptor] = []
    /// Connections each endpoint keeps once used (idle ones above it close). Default 1.
    public var minConnectionsPerEndpoint = 1
    /// The most connections to one endpoint. Default 4.
    public var maxConnectionsPerEndpoint = 4
    /// Calls that may wait for a connection; more fail with RESOURCE_EXHAUSTED. Default 1024.
    public var maxQueuedCalls = 1024
    /// Connections without calls for this long close (down to the minimum). Default 5 min.
    public var idleTimeout: Duration = .seconds(300)
    /// The wait before probing an endpoint that failed to connect, by consecutive failures.
    public var reconnectBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10), multiplier: 1.6, jitter: 0.2)
    /// How often the resolver is asked again (not for a static list). Default 30 s.
    public var resolveInterval: Duration = .seconds(30)
    /// Retry policies of idempotent methods, by method path or service name.
    public var retryPolicies = RetryPolicies()
    /// Caps policy retries relative to successes.
    public var retryBudget = RetryBudget()
    /// Transparent retries of refused calls per call. Default 3.
    public var maxTransparentRetries = 3

    public init() {}
  }

  /// A view of the pool, for tests, metrics and debugging.
  public struct Snapshot: Sendable {
    public struct EndpointInfo: Sendable {
      public var endpoint: Endpoint
      public var connections: Int
      public var inFlight: Int
      public var ejected: Bool
      public var lastError: String?
    }
    public var endpoints: [EndpointInfo]
    public var queuedCalls: Int
  }

  typealias Machine = PoolStateMachine<RPCConnection>
  typealias Lease = Machine.Lease

  private struct State {
    var machine: Machine
    var continuations: [Int: CheckedContinuation<Lease, any Error>] = [:]
    /// Results that arrived before their waiter registered its continuation.
    var early: [Int: Result<Lease, RPCError>] = [:]
    var deadlineTimers: [Int: Scheduled<Void>] = [:]
    var nextWaiterID = 1
    var nextConnectionID = 1
  }

  private let state: Mutex<State>
  private let configuration: Configuration
  private let resolver: any EndpointResolver
  private let group: any EventLoopGroup
  private let timerLoop: any EventLoop
  private let logger: Logger
  private let throttle: RetryThrottle
  /// Calls (``ClientPipeline``) and the pool's own metrics: connections per endpoint, queue
  /// wait, retries (``RPCMetrics``).
  let metrics: ClientMetrics
  private let queueWait: CoreMetrics.Timer?
  private let connectionGauges = Mutex<[Endpoint: Gauge]>([:])
  private let background = Mutex<(resolving: Task<Void, Never>?, idle: RepeatedTask?)>((nil, nil))

  /// A pool over `resolver`'s endpoints; no connection opens before the first call.
  public init(
    resolver: any EndpointResolver, configuration: Configuration = .init(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "emporium.rpc.pool")
  ) {
    var connection = configuration.connection
    connection.interceptors = []
    var configuration = configuration
    configuration.connection = connection
    self.configuration = configuration
    self.resolver = resolver
    self.group = group
    self.timerLoop = group.next()
    self.logger = logger
    self.throttle = RetryThrottle(configuration.retryBudget)
    let metrics = ClientMetrics(configured: configuration.connection.metricsFactory)
    self.metrics = metrics
    self.queueWait =
      metrics.isRecording
      ? CoreMetrics.Timer(label: RPCMetrics.clientPoolQueueWait, preferredDisplayUnit: .seconds, factory: metrics.factory)
      : nil
    var machineConfiguration = Machine.Configuration()
    machineConfiguration.minConnectionsPerEndpoint = max(0, configuration.minConnectionsPerEndpoint)
    machineConfiguration.maxConnectionsPerEndpoint = max(1, configuration.maxConnectionsPerEndpoint)
    machineConfiguration.maxQueuedCalls = max(0, configuration.maxQueuedCalls)
    machineConfiguration.idleTimeout = configuration.idleTimeout
    machineConfiguration.backoff = configuration.reconnectBackoff
    var machine = Machine(configuration: machineConfiguration)
    if let fixed = resolver as? StaticEndpoints {
      _ = machine.setEndpoints(fixed.endpoints)
    }
    self.state = Mutex(State(machine: machine))
    startBackgroundWork()
  }

  /// A pool over a fixed list of endpoints.
  public convenience init(
    endpoints: [Endpoint], configuration: Configuration = .init(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "emporium.rpc.pool")
  ) {
    self.init(resolver: StaticEndpoints(endpoints), configuration: configuration, group: group, logger: logger)
  }

  deinit {
    background.withLock { work in
      work.resolving?.cancel()
      work.idle?.cancel()
    }
  }

  /// Fails waiting calls, closes every connection (their calls fail with UNAVAILABLE) and
  /// stops probing and resolving.
  public func close() async {
    let work = background.withLock { work in
      defer { work = (nil, nil) }
      return work
    }
    work.resolving?.cancel()
    work.idle?.cancel()
    let actions = state.withLock { $0.machine.shutdown() }
    run(actions)
    for connection in actions.close { await connection.close() }
  }

  /// Endpoints, their connections and load, and the queue.
  public func snapshot() -> Snapshot {
    state.withLock { state in
      Snapshot(
        endpoints: state.machine.endpoints.map {
          Snapshot.EndpointInfo(
            endpoint: $0.endpoint, connections: $0.connections.count, inFlight: $0.inFlight, ejected: $0.ejected,
            lastError: $0.lastError)
        },
        queuedCalls: state.machine.waiters.count)
    }
  }

  /// Waiting-call records the pool holds (continuations, early results, deadline timers): zero
  /// whenever no call waits. For tests that check nothing accumulates.
  var waitingRecords: Int {
    state.withLock { $0.continuations.count + $0.early.count + $0.deadlineTimers.count + $0.machine.waiters.count }
  }

  // MARK: ClientTransport

  public func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
    try await ClientPipeline.run(
      method: method, options: options, interceptors: configuration.interceptors, metrics: metrics
    ) { context in
      let context = Self.fixingDeadline(context)
      let policy = self.configuration.retryPolicies.policy(for: method)
      var attempt = 1
      var transparentRetries = 0
      var excluding: Machine.ConnectionID?
      while true {
        let lease = try await self.acquire(deadline: context.options.deadline, excluding: excluding)
        do {
          let response = try await lease.handle.unary(context, request: request)
          self.release(lease)
          if policy != nil { self.throttle.recordSuccess() }
          return response
        } catch let error as RPCError {
          self.release(lease)
          excluding = lease.connectionID
          if try await self.shouldRetryRefused(error, &transparentRetries, deadline: context.options.deadline) {
            self.countRetry(method, reason: "refused")
            continue
          }
          guard let policy, attempt < policy.maxAttempts, policy.retryableCodes.contains(error.code),
            !Task.isCancelled
          else { throw error }
          guard self.throttle.recordFailureAndAskToRetry() else {
            self.logger.debug(
              "retry budget exhausted", metadata: ["rpc.method": "\(method.path)", "error": "\(error)"])
            throw error
          }
          let delay = policy.backoff.delay(attempt: attempt, random: Double.random(in: 0..<1))
          try await Self.sleep(delay, before: context.options.deadline, orThrow: error)
          self.countRetry(method, reason: "policy")
          attempt += 1
        }
      }
    }
  }

  public func withStreamingCall<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result {
    try await ClientPipeline.run(
      method: method, options: options, interceptors: configuration.interceptors, metrics: metrics
    ) { context in
      let context = Self.fixingDeadline(context)
      var transparentRetries = 0
      var excluding: Machine.ConnectionID?
      while true {
        let lease = try await self.acquire(deadline: context.options.deadline, excluding: excluding)
        var opened = false
        do {
          let result = try await lease.handle.withStreamingCall(context, opened: { opened = true }, body)
          self.release(lease)
          return result
        } catch let error as RPCError where !opened {
          // Refused before `body` ran: nothing was sent, so it may run on another connection.
          self.release(lease)
          excluding = lease.connectionID
          if try await self.shouldRetryRefused(error, &transparentRetries, deadline: context.options.deadline) {
            self.countRetry(method, reason: "refused")
            continue
          }
          throw error
        } catch {
          self.release(lease)
          throw error
        }
      }
    }
  }

  /// The deadline is fixed once per call, so that retries share it instead of restarting the
  /// timeout.
  private static func fixingDeadline(_ context: ClientCallContext) -> ClientCallContext {
    var context = context
    context.options.deadline = context.options.effectiveDeadline()
    context.options.timeout = nil
    return context
  }

  /// Whether a refused call is retried transparently (counting it), after any delay the server
  /// asked for.
  private func shouldRetryRefused(
    _ error: RPCError, _ retries: inout Int, deadline: ContinuousClock.Instant?
  ) async throws -> Bool {
    guard error.refused, retries < configuration.maxTransparentRetries, !Task.isCancelled else { return false }
    retries += 1
    if error.code == .resourceExhausted {
      // Refused for overload: retrying adds load, so it spends the budget and waits as told.
      guard throttle.recordFailureAndAskToRetry() else { return false }
      if let delay = error.retryDelay { try await Self.sleep(delay, before: deadline, orThrow: error) }
    }
    logger.trace("retrying a refused call", metadata: ["error": "\(error)"])
    return true
  }

  private static func sleep(_ delay: Duration, before deadline: ContinuousClock.Instant?, orThrow error: RPCError)
    async throws
  {
    if let deadline, ContinuousClock.now + delay >= deadline { throw error }
    do {
      try await Task.sleep(for: delay)
    } catch {
      throw RPCError(code: .cancelled, message: "the call was cancelled")
    }
  }

  // MARK: Leases

  private func acquire(deadline: ContinuousClock.Instant?, excluding: Machine.ConnectionID?) async throws -> Lease {
    let (result, actions, waiterID) = state.withLock { state in
      let id = state.nextWaiterID
      state.nextWaiterID += 1
      let (result, actions) = state.machine.lease(waiter: id, excluding: excluding)
      return (result, actions, id)
    }
    if !actions.isEmpty { run(actions) }
    switch result {
    case .leased(let lease): return lease
    case .failed(let error): throw error
    case .queued: break
    }
    if let deadline {
      let remaining = ContinuousClock.now.duration(to: deadline)
      let timer = timerLoop.scheduleTask(in: .nanoseconds(max(0, remaining.nanoseconds))) { [weak self] () -> Void in
        self?.giveUp(
          waiterID,
          .rpc(.deadlineExceeded, .deadlineTooShort, "deadline exceeded while waiting for a connection in the pool"))
      }
      // Served in between (its result waits in `early`): nothing will remove the timer later.
      let served = state.withLock { state in
        if state.early[waiterID] != nil { return true }
        state.deadlineTimers[waiterID] = timer
        return false
      }
      if served { timer.cancel() }
    }
    let queuedAt = ContinuousClock.now
    defer { queueWait?.recordNanoseconds(queuedAt.duration(to: .now).nanoseconds) }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        let early = state.withLock { state -> Result<Lease, RPCError>? in
          if let early = state.early.removeValue(forKey: waiterID) { return early }
          state.continuations[waiterID] = continuation
          return nil
        }
        if let early { continuation.resume(with: early) }
      }
    } onCancel: {
      self.giveUp(waiterID, RPCError(code: .cancelled, message: "the call was cancelled"))
    }
  }

  private func giveUp(_ waiterID: Int, _ error: RPCError) {
    run(state.withLock { $0.machine.cancelWaiter(waiterID, error: error) })
  }

  private func release(_ lease: Lease) {
    let actions = state.withLock { $0.machine.release(lease, now: .now) }
    if !actions.isEmpty { run(actions) }
  }

  // MARK: Running actions

  private func run(_ actions: Machine.Actions) {
    if !actions.resume.isEmpty {
      let resumptions = state.withLock { state in
        actions.resume.compactMap { (id, result) -> (CheckedContinuation<Lease, any Error>, Result<Lease, RPCError>)? in
          state.deadlineTimers.removeValue(forKey: id)?.cancel()
          guard let continuation = state.continuations.removeValue(forKey: id) else {
            state.early[id] = result
            return nil
          }
          return (continuation, result)
        }
      }
      for (continuation, result) in resumptions { continuation.resume(with: result.mapError { $0 }) }
    }
    for connection in actions.close {
      Task { await connection.close() }
    }
    if !actions.close.isEmpty { recordConnections() }
    for (endpointID, endpoint) in actions.connect {
      connect(endpointID, endpoint)
    }
    for (endpointID, delay) in actions.probe {
      timerLoop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) { [weak self] in
        guard let self else { return }
        self.run(self.state.withLock { $0.machine.probeDue(endpointID) })
      }
    }
  }

  private func countRetry(_ method: ProtoMethodDescriptor, reason: String) {
    guard metrics.isRecording else { return }
    Counter(
      label: RPCMetrics.clientRetries,
      dimensions: [(RPCMetrics.methodLabel, method.path), (RPCMetrics.reasonLabel, reason)], factory: metrics.factory
    ).increment()
  }

  /// Sets the open-connections gauge of every endpoint (after connections open or close).
  private func recordConnections() {
    guard metrics.isRecording else { return }
    let counts = state.withLock { $0.machine.connectionCounts }
    connectionGauges.withLock { gauges in
      for (endpoint, count) in counts {
        let gauge =
          gauges[endpoint]
          ?? Gauge(
            label: RPCMetrics.clientPoolConnections, dimensions: [(RPCMetrics.endpointLabel, "\(endpoint)")],
            factory: metrics.factory)
        gauges[endpoint] = gauge
        gauge.record(count)
      }
      for (endpoint, gauge) in gauges where counts[endpoint] == nil { gauge.record(0) }
    }
  }

  private func connect(_ endpointID: Machine.EndpointID, _ endpoint: Endpoint) {
    let connectionID = state.withLock { state in
      defer { state.nextConnectionID += 1 }
      return state.nextConnectionID
    }
    Task {
      do {
        let connection = try await RPCConnection.connect(
          host: endpoint.host, port: endpoint.port, configuration: configuration.connection, group: group,
          onGoAway: { [weak self] in
            guard let self else { return }
            self.run(self.state.withLock { $0.machine.goingAway((endpointID, connectionID)) })
          })
        connection.closed.whenComplete { [weak self] _ in
          guard let self else { return }
          self.logger.debug("connection closed", metadata: ["endpoint": "\(endpoint)"])
          self.run(self.state.withLock { $0.machine.closed((endpointID, connectionID)) })
          self.recordConnections()
        }
        let (actions, wasEjected) = state.withLock { state in
          let wasEjected = state.machine.endpoints.first { $0.id == endpointID }?.ejected ?? false
          let actions = state.machine.connected(
            endpointID, connectionID: connectionID, handle: connection,
            limit: Int(connection.serverSettings.maxConcurrentCalls), now: .now)
          return (actions, wasEjected)
        }
        if wasEjected { logger.info("endpoint is back", metadata: ["endpoint": "\(endpoint)"]) }
        run(actions)
        recordConnections()
      } catch {
        let message = (error as? RPCError)?.message ?? "\(error)"
        let (actions, failures) = state.withLock { state in
          let actions = state.machine.connectFailed(endpointID, error: message, random: Double.random(in: 0..<1))
          return (actions, state.machine.endpoints.first { $0.id == endpointID }?.consecutiveFailures ?? 0)
        }
        if failures == 1 {
          logger.warning("endpoint ejected", metadata: ["endpoint": "\(endpoint)", "error": "\(message)"])
        } else {
          logger.debug(
            "endpoint still unreachable", metadata: ["endpoint": "\(endpoint)", "failures": "\(failures)"])
        }
        run(actions)
      }
    }
  }

  // MARK: Background work

  private func startBackgroundWork() {
    let interval = min(.seconds(5), max(.milliseconds(50), configuration.idleTimeout / 4))
    let idle = timerLoop.scheduleRepeatedTask(
      initialDelay: .nanoseconds(interval.nanoseconds), delay: .nanoseconds(interval.nanoseconds)
    ) { [weak self] _ in
      guard let self else { return }
      self.run(self.state.withLock { $0.machine.closeIdle(now: .now) })
    }
    var resolving: Task<Void, Never>?
    if !(resolver is StaticEndpoints) {
      let resolver = self.resolver
      let interval = configuration.resolveInterval
      resolving = Task { [weak self] in
        while !Task.isCancelled {
          do {
            let endpoints = try await resolver.resolve()
            guard let self else { return }
            if endpoints.isEmpty {
              self.logger.warning("the resolver returned no endpoints; keeping the previous ones")
            } else {
              self.run(self.state.withLock { $0.machine.setEndpoints(endpoints) })
            }
          } catch {
            self?.logger.warning("could not resolve endpoints", metadata: ["error": "\(error)"])
          }
          try? await Task.sleep(for: interval)
        }
      }
    }
    background.withLock { $0 = (resolving, idle) }
  }
}

extension RPCError {
  /// The delay a `RetryInfo` detail asks for, if any.
  var retryDelay: Duration? {
    for detail in details?.details ?? [] {
      if case .retryInfo(let info) = detail.detail, let delay = info.retryDelay {
        return .seconds(delay.seconds) + .nanoseconds(Int64(delay.nanos))
      }
    }
    return nil
  }
}
