import CLibPQ
import Foundation
import Synchronization

/// One connection to PostgreSQL through libpq, in non-blocking pipeline mode.
///
/// Any number of tasks may run statements on one connection at the same time: each statement is
/// queued, and the connection's I/O thread (a ``PostgresEventLoop`` shared with other
/// connections) sends everything queued in one write, with a sync point after each caller's
/// statement so that one caller's error never affects another's, then reads the results in
/// order and resumes each caller. Concurrent callers therefore share round trips. Statements are
/// prepared on first use and cached per connection (keyed by SQL text and parameter types);
/// parameters always travel separately from the SQL, in binary format.
///
/// Caution: statements from different tasks interleave, so transaction control (`BEGIN`,
/// `COMMIT`, `SET` without `LOCAL`) on a connection that other tasks use concurrently affects
/// them too. ``PostgresPool/withTransaction(isolation:maxAttempts:_:)`` gives a transaction a
/// connection of its own.
///
/// ## Cancellation and deadlines
///
/// Cancelling the task that awaits a statement resumes it at once with `CancellationError`. A
/// statement not yet sent is dropped; one the server is running is cancelled with `PQcancel`; one
/// queued on the server behind others is cancelled when it starts. A deadline
/// (``PostgresDeadline``) works the same way when it passes; nothing is sent for it beforehand.
///
/// ## Ownership
///
/// The caller owns the connection and must ``close()`` it; a connection dropped without closing
/// keeps its socket until the process exits. A connection from ``PostgresPool/withConnection(_:)``
/// belongs to the pool.
public final class PostgresConnection: Sendable {
  /// Called on the I/O thread; must return quickly.
  typealias NotificationHandler = @Sendable (PostgresNotification) -> Void
  /// Called once on the I/O thread when the connection closes, with the error that closed it
  /// (nil when ``close()`` did).
  typealias CloseHandler = @Sendable (PostgresError?) -> Void

  struct Inbox {
    var requests: [ConnectionRequest] = []
    var cancels: [(id: UInt64, error: PostgresError?)] = []
    var closeRequested = false
    var scheduled = false
    var isClosed = false
    var closeError: PostgresError?
    var closeWaiters: [CheckedContinuation<Void, Never>] = []
    var connectWaiter: CheckedContinuation<Void, any Error>?
    var backendProcessID: Int32 = 0
    /// Statements that go in front of the next extended request, in the same round trip (a
    /// transaction's `BEGIN`, sent with its first statement).
    var prefix: [PostgresStatement] = []
    /// COPY data and ends from ``PostgresCopyWriter``s, by request id, in order.
    var copyMessages: [(id: UInt64, message: CopyMessage)] = []
  }

  /// What a ``PostgresCopyWriter`` hands the driver.
  enum CopyMessage {
    /// Bytes of COPY data; the continuation is resumed once libpq has taken them.
    case data([UInt8], ConnectionRequest.Continuation)
    /// The end of the data: nil to finish the COPY, or the reason to fail it.
    case end(failure: String?)
  }

  let inbox = Mutex(Inbox())
  let loop: PostgresEventLoop
  let configuration: Configuration
  let scrubber: SecretScrubber
  let notificationHandler: NotificationHandler?
  let closeHandler: CloseHandler?
  private let requestIDs = Atomic<UInt64>(1)
  /// Set by the pool: records each statement's outcome.
  let observer: (@Sendable (PostgresQueryEvent) -> Void)?
  /// The driver the loop runs; reached only through ``inbox`` and ``PostgresEventLoop/schedule(_:)``.
  private let driver = Mutex<ConnectionDriver?>(nil)

  private init(
    configuration: Configuration,
    loop: PostgresEventLoop,
    notificationHandler: NotificationHandler?,
    closeHandler: CloseHandler?,
    observer: (@Sendable (PostgresQueryEvent) -> Void)?
  ) {
    self.configuration = configuration
    self.scrubber = SecretScrubber(secrets: configuration.secrets)
    self.loop = loop
    self.notificationHandler = notificationHandler
    self.closeHandler = closeHandler
    self.observer = observer
  }

  /// Connects to the server.
  ///
  /// The connection is made by the I/O thread with libpq's non-blocking `PQconnectStart` and
  /// `PQconnectPoll`; the caller's thread never blocks.
  ///
  /// - Parameter configuration: Where to connect.
  /// - Returns: A connection in pipeline mode. The caller owns it and must ``close()`` it.
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code/connectionFailed`` (the message
  ///   is libpq's, scrubbed of the password), or `CancellationError` if the task is cancelled.
  public static func connect(_ configuration: Configuration) async throws -> PostgresConnection {
    try await Self.connect(
      configuration, loop: .next(), notificationHandler: nil, closeHandler: nil, observer: nil)
  }

  /// The executor of this connection's I/O thread. A task that runs many statements and little
  /// else can prefer it (`withTaskExecutorPreference(connection.taskExecutor) { ... }`): it is
  /// then resumed on the I/O thread as soon as a result is read, saving a thread hop per
  /// statement. Do not run CPU-heavy or blocking work there: it delays every connection that
  /// thread serves.
  public var taskExecutor: any TaskExecutor { self.loop }

  static func connect(
    _ configuration: Configuration,
    loop: PostgresEventLoop,
    notificationHandler: NotificationHandler?,
    closeHandler: CloseHandler?,
    observer: (@Sendable (PostgresQueryEvent) -> Void)?
  ) async throws -> PostgresConnection {
    try Task.checkCancellation()
    let connection = PostgresConnection(
      configuration: configuration,
      loop: loop,
      notificationHandler: notificationHandler,
      closeHandler: closeHandler,
      observer: observer
    )
    let driver = ConnectionDriver(connection: connection)
    connection.driver.withLock { $0 = driver }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        connection.inbox.withLock { inbox in
          inbox.connectWaiter = continuation
          inbox.scheduled = true
        }
        connection.loop.schedule(driver)
      }
    } onCancel: {
      connection.requestClose()
    }
    return connection
  }

  /// The process id of the server backend serving this connection (for `pg_stat_activity` or
  /// `pg_terminate_backend`).
  public var backendProcessID: Int32 {
    self.inbox.withLock { $0.backendProcessID }
  }

  /// True once the connection has closed, by ``close()`` or because the server went away.
  public var isClosed: Bool {
    self.inbox.withLock { $0.isClosed }
  }

  /// Runs one statement and returns its rows.
  ///
  /// - Parameters:
  ///   - sql: One SQL statement with `$1`, `$2`, ... for the parameters.
  ///   - parameters: The values, bound in binary format (never spliced into the SQL).
  ///   - deadline: When the caller stops waiting; nil uses ``PostgresDeadline/current``.
  /// - Returns: The statement's rows (empty for a command) and command tag.
  /// - Throws: ``PostgresError`` (``PostgresError/Code/server`` with the SQLSTATE for a
  ///   statement the server rejected, ``PostgresError/Code/statementTimeout`` past the deadline,
  ///   ``PostgresError/Code/connectionClosed`` when the connection broke with the statement in
  ///   flight), or `CancellationError`.
  @discardableResult
  public func query(
    _ sql: String,
    _ parameters: [any PostgresEncodable] = [],
    deadline: ContinuousClock.Instant? = nil
  ) async throws -> PostgresRows {
    let statement = PostgresStatement(sql: sql, bindings: try PostgresBindings(parameters))
    return try await self.run(
      [statement], resultIndex: 0, deadline: deadline ?? PostgresDeadline.current, isShared: false)
  }

  /// Runs `sql`, which may hold several statements separated by semicolons, with the simple
  /// query protocol and no parameters (for migrations and other scripts the application owns).
  ///
  /// The statements run in one implicit transaction unless the script has its own transaction
  /// control. The connection leaves pipeline mode while the script runs (statements queued
  /// behind it wait), and results are discarded.
  ///
  /// - Throws: ``PostgresError`` for the first statement that failed, or `CancellationError`.
  public func executeScript(_ sql: String, deadline: ContinuousClock.Instant? = nil) async throws {
    _ = try await self.submit(
      .simple(sql), deadline: deadline ?? PostgresDeadline.current, isShared: false,
      ignoresCancellation: false)
  }

  /// Runs `COPY ... FROM STDIN` and streams the data `body` writes to the server.
  ///
  /// `sql` is one `COPY table (columns) FROM STDIN` statement (text or CSV format; build text
  /// rows with ``PostgresCopyRows``). `body` writes the data in chunks with
  /// ``PostgresCopyWriter/write(_:)``, which returns once libpq has taken a chunk (so at most
  /// about two chunks are in memory at once: chunks of 64 KiB to a few MiB send best). When
  /// `body` returns, the COPY ends and this returns the number of rows the server copied; when
  /// `body` throws, the COPY is failed on the server (nothing is copied) and its error is
  /// rethrown.
  ///
  /// libpq runs COPY outside pipeline mode, as ``executeScript(_:deadline:)`` runs scripts:
  /// statements queued behind it wait until it ends. An error (bad data, a constraint) ends the
  /// COPY and leaves the connection usable. Cancelling the task, or the deadline passing, fails
  /// the COPY on the server and throws `CancellationError` (or the timeout).
  ///
  /// - Throws: ``PostgresError`` (the server's error for the COPY, or
  ///   ``PostgresError/Code/connectionClosed``), what `body` throws, or `CancellationError`.
  @discardableResult
  public func copyFrom(
    _ sql: String,
    deadline: ContinuousClock.Instant? = nil,
    _ body: (PostgresCopyWriter) async throws -> Void
  ) async throws -> Int {
    try await self.copy(sql, deadline: deadline ?? PostgresDeadline.current, body)
  }

  func copy(
    _ sql: String,
    deadline: ContinuousClock.Instant?,
    _ body: (PostgresCopyWriter) async throws -> Void
  ) async throws -> Int {
    if let deadline, deadline <= ContinuousClock.now {
      throw PostgresError.timeout()
    }
    let id = self.requestIDs.add(1, ordering: .relaxed).oldValue
    let writer = PostgresCopyWriter(connection: self, requestID: id)
    return try await withThrowingTaskGroup(of: PostgresRows.self) { group in
      // The data must reach the driver after the request (it refuses data for a request it
      // does not know), so the body starts once the request is queued.
      let queued = CopyRequestQueued()
      group.addTask {
        try await self.submit(
          .copy(sql), id: id, deadline: deadline, isShared: false, ignoresCancellation: false,
          enqueued: { queued.signal() })
      }
      await queued.wait()
      var bodyError: (any Error)?
      do {
        try await body(writer)
        self.sendCopyMessage(id, .end(failure: nil))
      } catch {
        bodyError = error
        self.sendCopyMessage(id, .end(failure: "The client stopped the COPY: \(type(of: error)) was thrown."))
      }
      do {
        let rows = try await group.next()!
        if let bodyError { throw bodyError }
        return rows.affectedRows
      } catch {
        // The body's own error explains a failed COPY better than the server's "COPY from
        // stdin failed", except when the statement itself failed first (the writer then
        // fails with a generic error).
        if let bodyError, !(bodyError is CopyEndedError) { throw bodyError }
        throw error
      }
    }
  }

  /// Hands COPY data or its end to the driver.
  func sendCopyMessage(_ id: UInt64, _ message: CopyMessage) {
    var refused: CopyMessage?
    self.enqueue { inbox in
      if inbox.isClosed {
        refused = message
      } else {
        inbox.copyMessages.append((id, message))
      }
    }
    if case .data(_, let continuation) = refused {
      continuation.resume(
        throwing: PostgresError.client(.connectionUnavailable, "The connection is closed; the COPY data was not sent."))
    }
  }

  /// Closes the connection: statements not yet sent fail with
  /// ``PostgresError/Code/connectionUnavailable`` and statements in flight with
  /// ``PostgresError/Code/connectionClosed``. Returns once the socket is closed. Idempotent.
  public func close() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let closed = self.inbox.withLock { inbox -> Bool in
        if inbox.isClosed {
          return true
        }
        inbox.closeWaiters.append(continuation)
        return false
      }
      if closed {
        continuation.resume()
      } else {
        self.requestClose()
      }
    }
  }

  /// Asks the I/O thread to close the connection, without waiting.
  func requestClose() {
    self.enqueue { $0.closeRequested = true }
  }

  /// Runs statements as one request (one sync point): the result of `statements[resultIndex]`.
  ///
  /// The deadline is enforced by the driver, not the server: at the deadline the caller fails
  /// with ``PostgresError/Code/statementTimeout`` and the statements are cancelled with
  /// `PQcancel`. Nothing travels with the statements for it, so a statement under a deadline
  /// costs no more than one without.
  func run(
    _ statements: [PostgresStatement],
    resultIndex: Int,
    deadline: ContinuousClock.Instant?,
    isShared: Bool,
    ignoresCancellation: Bool = false
  ) async throws -> PostgresRows {
    if let deadline, deadline <= ContinuousClock.now {
      throw PostgresError.timeout()
    }
    return try await self.submit(
      .extended(statements, resultIndex: resultIndex), deadline: deadline, isShared: isShared,
      ignoresCancellation: ignoresCancellation)
  }

  private func submit(
    _ payload: ConnectionRequest.Payload,
    id: UInt64? = nil,
    deadline: ContinuousClock.Instant?,
    isShared: Bool,
    ignoresCancellation: Bool,
    enqueued: (@Sendable () -> Void)? = nil
  ) async throws -> PostgresRows {
    let id = id ?? self.requestIDs.add(1, ordering: .relaxed).oldValue
    let started = self.observer == nil ? nil : ContinuousClock.now
    let outcome: Result<PostgresRows, any Error>
    do {
      if ignoresCancellation {
        outcome = .success(
          try await withUnsafeThrowingContinuation { continuation in
            self.enqueueRequest(
              ConnectionRequest(
                id: id, payload: payload, continuation: continuation, deadline: deadline,
                isShared: isShared),
              checkCancellation: false)
            enqueued?()
          })
      } else {
        outcome = .success(
          try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
              self.enqueueRequest(
                ConnectionRequest(
                  id: id, payload: payload, continuation: continuation, deadline: deadline,
                  isShared: isShared),
                checkCancellation: true)
              enqueued?()
            }
          } onCancel: {
            self.cancel(id, error: nil)
          })
      }
    } catch {
      outcome = .failure(error)
    }
    if let observer = self.observer, let started {
      observer(PostgresQueryEvent(payload: payload, duration: started.duration(to: .now), outcome: outcome))
    }
    return try outcome.get()
  }

  /// Puts `statements` in front of the next statement sent, in the same round trip.
  func setPrefix(_ statements: [PostgresStatement]) {
    self.inbox.withLock { $0.prefix = statements }
  }

  /// Removes the prefix; true when it was still waiting (never sent).
  func removePrefix() -> Bool {
    self.inbox.withLock { inbox in
      defer { inbox.prefix = [] }
      return !inbox.prefix.isEmpty
    }
  }

  private func enqueueRequest(_ request: ConnectionRequest, checkCancellation: Bool) {
    enum Refusal { case cancelled, closed }
    var refusal: Refusal?
    var request = request
    self.enqueue { inbox in
      if inbox.isClosed || inbox.closeRequested {
        refusal = .closed
      } else if checkCancellation && Task.isCancelled {
        refusal = .cancelled
      } else {
        if !inbox.prefix.isEmpty {
          switch request.payload {
          case .extended(let statements, let resultIndex):
            request.payload = .extended(
              inbox.prefix + statements, resultIndex: resultIndex + inbox.prefix.count)
            inbox.prefix = []
          case .simple(let script) where inbox.prefix.allSatisfy({ $0.bindings.count == 0 }):
            // A script as a transaction's first statement: its BEGIN goes first, as text (it
            // is one of the driver's constant statements, never built from values).
            request.payload = .simple(inbox.prefix.map { $0.sql + ";\n" }.joined() + script)
            inbox.prefix = []
          case .copy(let sql) where inbox.prefix.allSatisfy({ $0.bindings.count == 0 }):
            request.payload = .copy(inbox.prefix.map { $0.sql + ";\n" }.joined() + sql)
            inbox.prefix = []
          case .simple, .copy:
            break
          }
        }
        inbox.requests.append(request)
      }
    }
    switch refusal {
    case .cancelled:
      request.continuation.resume(throwing: CancellationError())
    case .closed:
      request.continuation.resume(
        throwing: PostgresError.client(
          .connectionUnavailable, "The connection is closed; the statement was not sent."))
    case nil:
      break
    }
  }

  /// Cancels request `id`: `error` nil means the task was cancelled (`CancellationError`).
  private func cancel(_ id: UInt64, error: PostgresError?) {
    var removed: ConnectionRequest?
    self.enqueue { inbox in
      if let index = inbox.requests.firstIndex(where: { $0.id == id }) {
        removed = inbox.requests.remove(at: index)
      } else {
        inbox.cancels.append((id, error))
      }
    }
    if let removed {
      removed.continuation.resume(throwing: error ?? CancellationError())
    }
  }

  /// Has the driver send what it holds back (from any thread): a cancel request finished.
  func wake() {
    self.enqueue { _ in }
  }

  /// Changes the inbox and makes sure the loop services the driver.
  private func enqueue(_ change: (inout Inbox) -> Void) {
    let mustSchedule = self.inbox.withLock { inbox -> Bool in
      change(&inbox)
      guard !inbox.scheduled, !inbox.isClosed else { return false }
      inbox.scheduled = true
      return true
    }
    guard mustSchedule, let driver = self.driver.withLock({ $0 }) else { return }
    if self.loop.isCurrentThread {
      // A task resumed on the I/O thread: the loop services the driver once the tasks it is
      // running are done, so several callers' statements leave in one write.
      self.loop.schedule(driver)
      return
    }
    // Nobody is using the driver: send from this thread (non-blocking libpq calls only) rather
    // than wake the I/O thread to do it.
    var completions: [ConnectionDriver.Completion] = []
    let handled = driver.lock.withLockIfAvailable { _ -> Bool in
      guard driver.isReady else { return false }
      driver.service()
      driver.takeCompletions(into: &completions)
      return !driver.needsLoopAttention
    }
    ConnectionDriver.resume(&completions)
    if handled != true {
      self.loop.schedule(driver)
    }
  }

  /// Called by the driver once the connection is closed.
  func markClosed(error: PostgresError?) {
    let (waiters, connectWaiter, orphans) = self.inbox.withLock {
      inbox -> ([CheckedContinuation<Void, Never>], CheckedContinuation<Void, any Error>?, [ConnectionRequest]) in
      inbox.isClosed = true
      inbox.closeError = error
      defer {
        inbox.closeWaiters = []
        inbox.connectWaiter = nil
        inbox.requests = []
        inbox.cancels = []
      }
      return (inbox.closeWaiters, inbox.connectWaiter, inbox.requests)
    }
    self.driver.withLock { $0 = nil }
    for request in orphans {
      request.continuation.resume(
        throwing: PostgresError.client(
          .connectionUnavailable, "The connection closed before the statement was sent."))
    }
    connectWaiter?.resume(
      throwing: error
        ?? PostgresError.client(.connectionFailed, "The connection was closed while connecting."))
    for waiter in waiters {
      waiter.resume()
    }
    self.closeHandler?(error)
  }
}

extension PostgresError {
  static func timeout() -> Self {
    Self(
      code: .statementTimeout, sqlState: SQLState.queryCanceled,
      message: "The caller's deadline passed before the statement finished.")
  }
}

/// Signalled once a COPY's request is queued (or refused), so that its data follows it.
final class CopyRequestQueued: Sendable {
  private let state = Mutex<(signalled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

  func signal() {
    let waiter = self.state.withLock { state in
      state.signalled = true
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  func wait() async {
    await withCheckedContinuation { continuation in
      let ready = self.state.withLock { state in
        if state.signalled { return true }
        state.waiter = continuation
        return false
      }
      if ready { continuation.resume() }
    }
  }
}
