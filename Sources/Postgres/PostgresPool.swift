import Synchronization

/// A pool of ``PostgresConnection``s: the way services talk to PostgreSQL.
///
/// ```swift
/// let pool = try PostgresPool(configuration: .init(url: url, maximumConnections: 8))
/// let rows = try await pool.query("SELECT name FROM catalog.products WHERE id = $1", [id])
/// try await pool.withTransaction(isolation: .serializable) { tx in
///   try await tx.query("UPDATE inventory.stock SET quantity = quantity - $1 WHERE sku = $2", [2, sku])
/// }
/// await pool.close()
/// ```
///
/// - ``query(_:_:deadline:)`` runs one statement outside a transaction. Statements from
///   concurrent callers are pipelined on shared connections, so they share round trips.
/// - ``withConnection(_:)`` and ``withTransaction(isolation:maxAttempts:_:)`` lease a connection
///   that nobody else uses until the body returns.
/// - ``notifications(channel:)`` and ``notify(channel:payload:)`` are LISTEN/NOTIFY, on a
///   connection of their own that is re-established (and LISTENs again) after it breaks.
///
/// The pool keeps ``Configuration/minimumConnections`` open, grows to
/// ``Configuration/maximumConnections`` under load, checks idle connections, closes surplus
/// idle ones, and reconnects with exponential back-off and jitter after the server restarts,
/// never giving up while open. Callers wait at most ``Configuration/acquireTimeout`` for a
/// connection. Statements inherit the caller's deadline (``Configuration/deadline``) as a
/// statement timeout. ``metrics`` counts what happened.
///
/// The caller owns the pool and must ``close()`` it.
public final class PostgresPool: Sendable {
  typealias Action = PoolStateMachine.Action

  private struct Waiter {
    var continuation: CheckedContinuation<(Int, PostgresConnection), any Error>
    var timer: Task<Void, Never>?
    var since: ContinuousClock.Instant
    var deadlineIsCaller: Bool
  }

  private struct State {
    var machine: PoolStateMachine
    var connections: [Int: PostgresConnection] = [:]
    var waiters: [UInt64: Waiter] = [:]
    var closing = 0
    var closeWaiters: [CheckedContinuation<Void, Never>] = []

    var isDrained: Bool { self.machine.isDrained && self.closing == 0 }
  }

  /// What to do once the lock is released.
  private enum Effect {
    case resume(Waiter, Int, PostgresConnection)
    case fail(Waiter, any Error)
    case connect(Int)
    case backOff(attempt: Int)
    case close(PostgresConnection)
    case healthCheck(Int, PostgresConnection)
    case finishClose([CheckedContinuation<Void, Never>])
  }

  /// The configuration the pool was made with.
  public let configuration: Configuration

  private let state: Mutex<State>
  private let counters = Mutex(PostgresPoolMetrics())
  private let maximumDepthSeen = Atomic<Int>(0)
  private let waiterIDs = Atomic<UInt64>(1)
  private let maintenance = Mutex<Task<Void, Never>?>(nil)
  let listener: PostgresListener
  /// The I/O thread of every connection of this pool.
  let loop: PostgresEventLoop

  /// Creates a pool and starts opening ``Configuration/minimumConnections`` in the background;
  /// it returns at once (a server that is down shows up as waits and timeouts, not here).
  ///
  /// - Throws: ``PostgresError/Code/invalidArgument`` for an inconsistent configuration.
  public init(configuration: Configuration) throws {
    try configuration.validate()
    self.configuration = configuration
    self.state = Mutex(
      State(
        machine: PoolStateMachine(
          configuration: .init(
            minimumConnections: configuration.minimumConnections,
            maximumConnections: configuration.maximumConnections,
            maximumPipelineDepth: configuration.maximumPipelineDepth,
            healthCheckInterval: configuration.healthCheckInterval,
            idleTimeout: configuration.idleTimeout))))
    self.loop = PostgresEventLoop.next()
    self.listener = PostgresListener(configuration: configuration, loop: self.loop)
    self.mutate { $0.start(now: .now) }
    let interval = min(
      max(min(configuration.healthCheckInterval, configuration.idleTimeout) / 4, .milliseconds(100)),
      .seconds(5))
    let task = Task { [weak self] in
      while !Task.isCancelled {
        try? await Task.sleep(for: interval)
        guard let self else { return }
        self.mutate { $0.tick(now: .now) }
      }
    }
    self.maintenance.withLock { $0 = task }
  }

  // MARK: - Public API

  /// Runs one statement outside any transaction and returns its rows.
  ///
  /// The statement may share a connection, and a round trip, with other callers' statements
  /// (each is its own implicit transaction, so one caller's error never touches another's). A
  /// statement that lost its connection before it was sent is sent again on another connection.
  /// Do not run transaction control (`BEGIN`, `SET` without `LOCAL`) here: use
  /// ``withTransaction(isolation:maxAttempts:_:)`` or ``withConnection(_:)``.
  ///
  /// Cancelling the caller's task resumes it at once with `CancellationError`; a statement
  /// running on the server is cancelled there with `PQcancel`.
  ///
  /// - Parameters:
  ///   - sql: One SQL statement with `$1`, `$2`, ... for the parameters.
  ///   - parameters: The values, bound in binary format (never spliced into the SQL).
  ///   - deadline: When the caller stops waiting; nil uses ``Configuration/deadline``. It bounds
  ///     the wait for a connection and the statement (as its statement timeout).
  ///   - planning: Whether the statement is prepared and kept (``Planning/cached``, the
  ///     default) or planned for its values on every call (``Planning/perCall``).
  /// - Returns: The rows (empty for a command) with the command tag.
  /// - Throws: ``PostgresError`` (``PostgresError/Code/server`` with the SQLSTATE,
  ///   ``PostgresError/Code/acquireTimeout``, ``PostgresError/Code/statementTimeout``,
  ///   ``PostgresError/Code/connectionClosed``, ``PostgresError/Code/poolClosed``), or
  ///   `CancellationError`.
  @discardableResult
  public func query(
    _ sql: String,
    _ parameters: [any PostgresEncodable] = [],
    deadline: ContinuousClock.Instant? = nil,
    planning: Planning = .cached
  ) async throws -> PostgresRows {
    let statement = PostgresStatement(
      sql: sql, bindings: try PostgresBindings(parameters), cacheable: planning == .cached)
    let deadline = deadline ?? self.configuration.deadline()
    var resent = 0
    while true {
      let (id, connection) = try await self.acquire(.shared, deadline: deadline)
      do {
        let rows = try await connection.run(
          [statement], resultIndex: 0, deadline: deadline, isShared: true)
        self.release(id, .shared)
        return rows
      } catch let error as PostgresError where error.code == .connectionUnavailable && resent < 3 {
        // Never sent: safe to send on another connection.
        self.release(id, .shared)
        resent += 1
        self.counters.withLock { $0.statementsResent += 1 }
      } catch {
        self.release(id, .shared)
        throw error
      }
    }
  }

  /// How a statement is planned.
  public enum Planning: Sendable, Hashable {
    /// Prepared once per connection and kept (up to the statement cache's capacity), so
    /// PostgreSQL may settle on one generic plan for all parameter values: the right choice
    /// for statements whose best plan does not depend on the values.
    case cached
    /// Sent unnamed and planned for its parameter values on every call: for statements whose
    /// best plan depends on them (full-text search, where one word matches ten products and
    /// another half the table), at the price of parsing and planning each time.
    case perCall
  }

  /// Leases a connection for the duration of `body`; nobody else uses it meanwhile.
  ///
  /// The connection goes back to the pool when `body` returns or throws; do not keep it. Leave
  /// it as you found it (no open transaction, no session settings others would not expect).
  ///
  /// - Throws: What `body` throws, ``PostgresError/Code/acquireTimeout``,
  ///   ``PostgresError/Code/poolClosed``, or `CancellationError` while waiting.
  public func withConnection<Result>(
    _ body: (PostgresConnection) async throws -> Result
  ) async throws -> Result {
    let (id, connection) = try await self.acquire(.exclusive, deadline: self.configuration.deadline())
    defer { self.release(id, .exclusive) }
    return try await body(connection)
  }

  /// Runs `body` on a leased connection that holds the session-level advisory lock named
  /// `key` (`pg_try_advisory_lock(hashtextextended(key, 0))`), and releases the lock after;
  /// returns nil at once, without running `body`, when another session holds it.
  ///
  /// Unlike a transaction-level lock (`pg_try_advisory_xact_lock`), this one spans any number of
  /// statements without a transaction held open between them. Work that waits on something
  /// else while it holds the lock (calls to other services, say) thus leaves no session idle in
  /// a transaction, which would keep the buffers its last read touched pinned (VACUUM waits for
  /// them) and hold back the horizon of the dead rows VACUUM may remove. Run each statement of
  /// `body` on its own (or in a transaction of its own, `BEGIN` ... `COMMIT`, ended before the
  /// slow part). If the process dies, the lock goes with its connection.
  ///
  /// The unlock is sent even when the task was cancelled; when it cannot be confirmed, the
  /// connection is closed (which releases the lock) instead of going back to the pool.
  public func withAdvisoryLock<Result>(
    _ key: String, _ body: (PostgresConnection) async throws -> Result
  ) async throws -> Result? {
    let (id, connection) = try await self.acquire(.exclusive, deadline: self.configuration.deadline())
    defer { self.release(id, .exclusive) }
    let locked = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", [key])
      .first?.decode(0, as: Bool.self)
    guard locked == true else { return nil }
    let result: Result
    do {
      result = try await body(connection)
    } catch {
      await self.unlock(key, on: connection)
      throw error
    }
    await self.unlock(key, on: connection)
    return result
  }

  private func unlock(_ key: String, on connection: PostgresConnection) async {
    do {
      let rows = try await connection.run(
        [PostgresStatement(sql: "SELECT pg_advisory_unlock(hashtextextended($1, 0))", bindings: try PostgresBindings([key]))],
        resultIndex: 0, deadline: nil, isShared: false, ignoresCancellation: true)
      if try rows.first?.decode(0, as: Bool.self) == true { return }
    } catch {}
    // Still locked, or unknown: never hand the connection to anyone else.
    await connection.close()
  }

  /// Runs `COPY ... FROM STDIN` on a leased connection with the data `body` writes, and returns
  /// the rows copied (see ``PostgresConnection/copyFrom(_:deadline:_:)``).
  @discardableResult
  public func copyFrom(_ sql: String, _ body: (PostgresCopyWriter) async throws -> Void) async throws -> Int {
    let deadline = self.configuration.deadline()
    let (id, connection) = try await self.acquire(.exclusive, deadline: deadline)
    defer { self.release(id, .exclusive) }
    return try await connection.copy(sql, deadline: deadline, body)
  }

  /// Runs `body` in a transaction on a leased connection, commits it, and returns what `body`
  /// returned.
  ///
  /// If `body` throws, the transaction rolls back and the error is rethrown. If it failed with
  /// `40001` (serialization_failure) or `40P01` (deadlock_detected) — in `body` or at `COMMIT` —
  /// the whole transaction runs again, after an exponential back-off with jitter, up to
  /// `maxAttempts` times in all. So `body` may run more than once: keep side effects outside the
  /// database out of it.
  ///
  /// Cancelling the caller rolls the transaction back (the `ROLLBACK` is sent even though the
  /// task is cancelled) and throws `CancellationError`.
  ///
  /// - Parameters:
  ///   - isolation: The isolation level; default read committed.
  ///   - maxAttempts: Attempts in all; nil uses ``Configuration/transactionMaxAttempts``.
  ///   - body: The transaction's work.
  /// - Throws: What `body` throws (the last attempt's error when retries run out),
  ///   ``PostgresError/Code/transactionFailed`` when `COMMIT` found the transaction already
  ///   aborted, or what acquiring a connection throws.
  public func withTransaction<Result>(
    isolation: PostgresIsolationLevel = .readCommitted,
    maxAttempts: Int? = nil,
    _ body: (PostgresTransaction) async throws -> Result
  ) async throws -> Result {
    let attempts = max(1, maxAttempts ?? self.configuration.transactionMaxAttempts)
    let deadline = self.configuration.deadline()
    var attempt = 1
    while true {
      do {
        return try await self.attemptTransaction(isolation: isolation, deadline: deadline, body)
      } catch let error as PostgresError where error.isTransactionConflict && attempt < attempts {
        self.counters.withLock { $0.transactionRetries += 1 }
        try await Task.sleep(
          for: Backoff.delay(
            attempt: attempt, initial: self.configuration.transactionInitialDelay,
            maximum: self.configuration.transactionMaximumDelay))
        attempt += 1
      }
    }
  }

  /// An async sequence of the notifications sent to `channel`, from the moment this returns
  /// (the server has confirmed `LISTEN`).
  ///
  /// All subscriptions of a pool share one extra connection. When it breaks (server restart),
  /// the pool reconnects with back-off and issues `LISTEN` again; the sequence goes on.
  /// Notifications sent while it was disconnected are lost — PostgreSQL keeps none for a
  /// listener that is not connected — so treat a notification as a wake-up signal and read the
  /// source of truth (an outbox table) after subscribing and on every notification.
  ///
  /// The sequence ends when the consuming task is cancelled or the pool closes; the channel is
  /// unlistened when its last subscriber ends.
  ///
  /// - Parameter channel: The channel name (any text; it is quoted as an identifier).
  /// - Throws: ``PostgresError/Code/invalidArgument`` for an empty name or one with NUL,
  ///   ``PostgresError/Code/acquireTimeout`` when the listening connection could not be
  ///   established within the acquire timeout, ``PostgresError/Code/poolClosed``.
  public func notifications(channel: String) async throws -> PostgresNotificationSequence {
    try await self.listener.subscribe(channel: channel)
  }

  /// Sends a notification (`pg_notify($1, $2)`, both parameters).
  public func notify(channel: String, payload: String = "") async throws {
    try await self.query("SELECT pg_notify($1, $2)", [channel, payload])
  }

  /// The executor of the pool's I/O thread (all its connections share one). A task that mostly
  /// runs statements can prefer it — `withTaskExecutorPreference(pool.taskExecutor) { ... }` —
  /// to be resumed on that thread as soon as a result is read, saving a thread hop per
  /// statement (about half the client-side cost of a short statement). Keep CPU-heavy and
  /// blocking work off it: it delays every connection of the pool.
  public var taskExecutor: any TaskExecutor { self.loop }

  /// A snapshot of the pool's counters and gauges.
  public var metrics: PostgresPoolMetrics {
    var metrics = self.counters.withLock { $0 }
    self.state.withLock { state in
      metrics.openConnections = state.machine.slots.count
      metrics.idleConnections = state.machine.slots.values.count { $0.isIdle }
      metrics.waitingCallers = state.machine.waiterCount
    }
    metrics.maximumPipelineDepthSeen = self.maximumDepthSeen.load(ordering: .relaxed)
    return metrics
  }

  /// Closes the pool: waiting callers fail with ``PostgresError/Code/poolClosed``, idle
  /// connections close at once, leased ones when they come back, and notification sequences
  /// end. Returns when every connection is closed. Idempotent.
  public func close() async {
    self.maintenance.withLock { $0?.cancel() }
    self.mutate { $0.close() }
    await self.listener.close()
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let done = self.state.withLock { state -> Bool in
        if state.isDrained { return true }
        state.closeWaiters.append(continuation)
        return false
      }
      if done {
        continuation.resume()
      }
    }
  }

  // MARK: - Transactions

  private func attemptTransaction<Result>(
    isolation: PostgresIsolationLevel,
    deadline: ContinuousClock.Instant?,
    _ body: (PostgresTransaction) async throws -> Result
  ) async throws -> Result {
    let (id, connection) = try await self.acquire(.exclusive, deadline: deadline)
    defer { self.release(id, .exclusive) }
    connection.setPrefix([PostgresStatement(sql: isolation.beginStatement, bindings: .init())])
    let transaction = PostgresTransaction(connection: connection, deadline: deadline)
    let result: Result
    do {
      result = try await body(transaction)
    } catch {
      await self.rollBack(connection)
      throw error
    }
    if transaction.isCommitted {
      // The body's last statement carried the COMMIT (`queryAndCommit`).
      self.counters.withLock { $0.transactionsCommitted += 1 }
      return result
    }
    if connection.removePrefix() {
      // Nothing ran: no transaction was ever begun.
      return result
    }
    let commit: PostgresRows
    do {
      commit = try await connection.run(
        [PostgresStatement(sql: "COMMIT", bindings: .init())], resultIndex: 0, deadline: nil,
        isShared: false, ignoresCancellation: true)
    } catch let error as PostgresError where error.code == .server {
      await self.rollBack(connection)
      throw error
    }
    guard commit.commandTag == "COMMIT" else {
      // The server answers COMMIT of an aborted transaction with ROLLBACK.
      self.counters.withLock { $0.transactionsRolledBack += 1 }
      throw PostgresError.client(
        .transactionFailed,
        "COMMIT rolled back: a statement in the transaction had failed and its error was not thrown out of the body.")
    }
    self.counters.withLock { $0.transactionsCommitted += 1 }
    return result
  }

  private func rollBack(_ connection: PostgresConnection) async {
    self.counters.withLock { $0.transactionsRolledBack += 1 }
    guard !connection.removePrefix() else { return }
    do {
      _ = try await connection.run(
        [PostgresStatement(sql: "ROLLBACK", bindings: .init())], resultIndex: 0, deadline: nil,
        isShared: false, ignoresCancellation: true)
    } catch {
      // The connection's state is unknown: never hand it to anyone else.
      await connection.close()
    }
  }

  // MARK: - Acquire and release

  private func acquire(
    _ use: PoolStateMachine.Use,
    deadline callerDeadline: ContinuousClock.Instant?
  ) async throws -> (Int, PostgresConnection) {
    let start = ContinuousClock.now
    // A free connection is taken under the lock, with no continuation and no suspension: the
    // common case, and a task switch saved per statement.
    var effects: [Effect] = []
    let free = try self.state.withLock { state -> (Int, PostgresConnection)? in
      if let refusal = Self.refusal(state) { throw refusal }
      return self.takeFree(use, now: start, in: &state, effects: &effects)
    }
    self.perform(effects)
    if let free {
      self.counters.withLock { $0.acquireLatency.record(start.duration(to: .now)) }
      return free
    }

    let waiterID = self.waiterIDs.add(1, ordering: .relaxed).oldValue
    let poolDeadline = start.advanced(by: self.configuration.acquireTimeout)
    let deadlineIsCaller = callerDeadline.map { $0 < poolDeadline } ?? false
    let deadline = deadlineIsCaller ? callerDeadline! : poolDeadline
    let acquired = try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation {
        (continuation: CheckedContinuation<(Int, PostgresConnection), any Error>) in
        enum Immediate {
          case use(Int, PostgresConnection)
          case fail(any Error)
          case wait
        }
        var effects: [Effect] = []
        // Checked again: a connection may have come free since the first look.
        let immediate = self.state.withLock { state -> Immediate in
          if let refusal = Self.refusal(state) { return .fail(refusal) }
          if let (id, connection) = self.takeFree(use, now: start, in: &state, effects: &effects) {
            return .use(id, connection)
          }
          state.waiters[waiterID] = Waiter(
            continuation: continuation, timer: nil, since: start, deadlineIsCaller: deadlineIsCaller)
          effects = self.effects(for: state.machine.enqueue(waiterID, use: use, now: start), in: &state)
          return .wait
        }
        switch immediate {
        case .use(let id, let connection):
          continuation.resume(returning: (id, connection))
        case .fail(let error):
          continuation.resume(throwing: error)
        case .wait:
          let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            guard !Task.isCancelled else { return }
            self?.abandonWaiter(waiterID, cancelled: false)
          }
          let served = self.state.withLock { state -> Bool in
            guard state.waiters[waiterID] != nil else { return true }
            state.waiters[waiterID]!.timer = timer
            return false
          }
          if served {
            timer.cancel()
          }
        }
        self.perform(effects)
      }
    } onCancel: {
      self.abandonWaiter(waiterID, cancelled: true)
    }
    self.counters.withLock { $0.acquireLatency.record(start.duration(to: .now)) }
    self.state.withLock { self.noteDepth(of: acquired.0, use, in: $0) }
    return acquired
  }

  /// Why nobody may acquire now, if so.
  private static func refusal(_ state: State) -> (any Error)? {
    if state.machine.isClosed {
      return PostgresError.client(.poolClosed, "The pool is closed.")
    }
    if Task.isCancelled {
      return CancellationError()
    }
    return nil
  }

  /// Takes a free connection for `use`, if there is one; call with the lock held.
  private func takeFree(
    _ use: PoolStateMachine.Use, now: ContinuousClock.Instant, in state: inout State,
    effects: inout [Effect]
  ) -> (Int, PostgresConnection)? {
    guard let (id, actions) = state.machine.acquireNow(use: use, now: now) else { return nil }
    effects = self.effects(for: actions, in: &state)
    self.noteDepth(of: id, use, in: state)
    return (id, state.connections[id]!)
  }

  /// Records the deepest pipeline seen once a shared caller got connection `id`.
  private func noteDepth(of id: Int, _ use: PoolStateMachine.Use, in state: State) {
    guard use == .shared, let depth = state.machine.slots[id]?.shared,
      depth > self.maximumDepthSeen.load(ordering: .relaxed)
    else { return }
    self.maximumDepthSeen.store(depth, ordering: .relaxed)
  }

  private func abandonWaiter(_ waiterID: UInt64, cancelled: Bool) {
    let waiter = self.state.withLock { state -> Waiter? in
      guard state.machine.cancelWaiter(waiterID) else { return nil }
      return state.waiters.removeValue(forKey: waiterID)
    }
    guard let waiter else { return }
    waiter.timer?.cancel()
    if cancelled {
      waiter.continuation.resume(throwing: CancellationError())
    } else if waiter.deadlineIsCaller {
      // The caller's deadline passed before a connection was free: to the caller, a statement
      // timeout like any other.
      self.counters.withLock { $0.statementTimeouts += 1 }
      waiter.continuation.resume(throwing: PostgresError.timeout())
    } else {
      self.counters.withLock { $0.acquireTimeouts += 1 }
      waiter.continuation.resume(
        throwing: PostgresError.client(
          .acquireTimeout,
          "No connection became available within \(self.configuration.acquireTimeout)."))
    }
  }

  private func release(_ id: Int, _ use: PoolStateMachine.Use) {
    self.mutate { $0.release(id, use: use, now: .now) }
  }

  // MARK: - Effects

  private func mutate(_ body: (inout PoolStateMachine) -> [Action]) {
    let effects = self.state.withLock { state in
      self.effects(for: body(&state.machine), in: &state)
    }
    self.perform(effects)
  }

  /// Turns the state machine's actions into effects, taking what they need from the state while
  /// the lock is held.
  private func effects(for actions: [Action], in state: inout State) -> [Effect] {
    var effects: [Effect] = []
    for action in actions {
      switch action {
      case .lease(let waiterID, let id):
        if let waiter = state.waiters.removeValue(forKey: waiterID), let connection = state.connections[id] {
          effects.append(.resume(waiter, id, connection))
        }
      case .connect(let id):
        effects.append(.connect(id))
      case .backOff(let attempt):
        effects.append(.backOff(attempt: attempt))
      case .close(let id):
        if let connection = state.connections.removeValue(forKey: id) {
          state.closing += 1
          effects.append(.close(connection))
        }
      case .healthCheck(let id):
        if let connection = state.connections[id] {
          effects.append(.healthCheck(id, connection))
        }
      case .failClosed(let waiterID):
        if let waiter = state.waiters.removeValue(forKey: waiterID) {
          effects.append(.fail(waiter, PostgresError.client(.poolClosed, "The pool is closed.")))
        }
      }
    }
    if state.isDrained, !state.closeWaiters.isEmpty {
      effects.append(.finishClose(state.closeWaiters))
      state.closeWaiters = []
    }
    return effects
  }

  private func perform(_ effects: [Effect]) {
    for effect in effects {
      switch effect {
      case .resume(let waiter, let id, let connection):
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: (id, connection))
      case .fail(let waiter, let error):
        waiter.timer?.cancel()
        waiter.continuation.resume(throwing: error)
      case .connect(let id):
        Task { await self.open(id) }
      case .backOff(let attempt):
        let delay = Backoff.delay(
          attempt: attempt, initial: self.configuration.reconnectInitialDelay,
          maximum: self.configuration.reconnectMaximumDelay)
        Task {
          try? await Task.sleep(for: delay)
          self.mutate { $0.backoffElapsed(now: .now) }
        }
      case .close(let connection):
        Task {
          await connection.close()
          let effects = self.state.withLock { state in
            state.closing -= 1
            return self.effects(for: [], in: &state)
          }
          self.perform(effects)
        }
      case .healthCheck(let id, let connection):
        Task {
          do {
            try await connection.query("SELECT 1", deadline: .now + .seconds(5))
          } catch {
            self.counters.withLock { $0.healthCheckFailures += 1 }
            await connection.close()
          }
          self.release(id, .exclusive)
        }
      case .finishClose(let waiters):
        for waiter in waiters {
          waiter.resume()
        }
      }
    }
  }

  private func open(_ id: Int) async {
    do {
      let connection = try await PostgresConnection.connect(
        self.configuration.connection,
        loop: self.loop,
        notificationHandler: nil,
        closeHandler: { [weak self] _ in self?.connectionClosed(id) },
        observer: { [weak self] event in self?.record(event) })
      self.counters.withLock { $0.connectionsOpened += 1 }
      let effects = self.state.withLock { state in
        state.connections[id] = connection
        return self.effects(for: state.machine.connected(id, now: .now), in: &state)
      }
      self.perform(effects)
    } catch {
      self.counters.withLock { $0.connectFailures += 1 }
      self.mutate { $0.connectFailed(id, now: .now) }
    }
  }

  private func connectionClosed(_ id: Int) {
    self.counters.withLock { $0.connectionsClosed += 1 }
    let effects = self.state.withLock { state in
      state.connections[id] = nil
      return self.effects(for: state.machine.connectionClosed(id, now: .now), in: &state)
    }
    self.perform(effects)
  }

  private func record(_ event: PostgresQueryEvent) {
    self.counters.withLock { metrics in
      metrics.queryLatency.record(event.duration)
      switch event.outcome {
      case .succeeded: metrics.queriesSucceeded += 1
      case .cancelled: metrics.queriesCancelled += 1
      case .failed(let error):
        metrics.queriesFailed += 1
        if error.code == .statementTimeout {
          metrics.statementTimeouts += 1
        }
      }
    }
    self.configuration.onQuery?(event)
  }
}
