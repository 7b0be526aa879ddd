/// The bookkeeping of one connection's pipeline, without any I/O: which libpq calls send a
/// request, and which request each result that comes back belongs to.
///
/// The connection's I/O thread asks ``plan(_:statements:resultIndex:)`` how to send a request
/// (prepare what is not cached yet, execute, then a sync point), performs those commands with
/// libpq, and feeds every result it reads to ``receive(_:)``, which says when a request is
/// complete and whether it succeeded. Every request ends with its own sync point, so an error in
/// one request never aborts another one sharing the pipeline.
///
/// Multi-statement SQL (migrations) needs the simple query protocol, which libpq does not allow in
/// pipeline mode: ``planSimple(_:)`` is possible only when nothing is in flight, leaves pipeline
/// mode for it, and ``receive(_:)`` reports when to enter pipeline mode again. `COPY ... FROM
/// STDIN` is such a simple query (``planCopy(_:)``): ``receive(_:)`` says when the server is
/// ready for the data (``Reaction/startCopy(_:)``); the driver sends it, ends the copy, and
/// reads the rest of the results as for any simple query.
struct PipelineStateMachine {
  typealias RequestID = UInt64

  /// A libpq call to make, in order.
  enum Command: Equatable, Sendable {
    /// `PQsendPrepare(name, statements[statement])`.
    case prepare(name: String, statement: Int)
    /// `PQsendQueryPrepared(name, statements[statement].bindings)`.
    case executePrepared(name: String, statement: Int)
    /// `PQsendQueryParams(statements[statement])` (the unnamed statement; used when the cache is
    /// full).
    case executeUnnamed(statement: Int)
    /// `PQpipelineSync`.
    case sync
    /// `PQexitPipelineMode`, then `PQsendQuery` with the request's SQL.
    case simpleQuery
  }

  /// What libpq's `PQgetResult` returned, classified.
  enum Event: Equatable, Sendable {
    /// A result with status `PGRES_COMMAND_OK`, `PGRES_TUPLES_OK` or `PGRES_EMPTY_QUERY`.
    case success
    /// A result with status `PGRES_FATAL_ERROR`.
    case failure(PostgresError)
    /// `PGRES_PIPELINE_ABORTED`: skipped because an earlier statement of the request failed.
    case aborted
    /// NULL: the current statement's results are complete.
    case end
    /// `PGRES_PIPELINE_SYNC`.
    case sync
    /// `PGRES_COPY_IN`: the server waits for COPY data.
    case copyIn
  }

  /// What the I/O thread does with an event.
  enum Reaction: Equatable, Sendable {
    /// Nothing (free the result, if any).
    case none
    /// Keep this result: it is the one the request returns (replacing one kept before).
    case keepResult
    /// The request is complete; `error` nil means success (return the kept result).
    /// `enterPipelineMode` is true when a simple query finished and the connection must go back
    /// to pipeline mode.
    case complete(RequestID, error: PostgresError?, enterPipelineMode: Bool)
    /// The server waits for request `id`'s COPY data: send it (`PQputCopyData`), end it
    /// (`PQputCopyEnd`), and only then read results again.
    case startCopy(RequestID)
    /// The event does not fit the requests in flight: the connection is out of step with the
    /// server and must be closed.
    case protocolViolation(String)
  }

  private enum Step: Equatable {
    case prepare(name: String)
    /// `name` is the prepared statement used (nil for the unnamed one).
    case execute(keep: Bool, name: String?)
    case sync
    /// A simple query; `copy` when it is a `COPY ... FROM STDIN` (which may ask for data once).
    case simple(copy: Bool)
  }

  /// A request in flight. Its steps are the next ones in ``steps``, up to and including its
  /// `.sync` (or its one `.simple`), so requests need no array of their own.
  private struct Outstanding {
    var id: RequestID
    /// True once the current step has had its result (and awaits the NULL that ends it).
    var hadResult = false
    var error: PostgresError?
  }

  /// Prepared statements by key; the name is `s<number>`.
  private var statements: [StatementKey: String] = [:]
  private var nextStatementNumber = 1
  /// Prepared statements whose preparation failed while requests that use them were in flight,
  /// with the error, so those requests report it instead of "prepared statement does not exist".
  private var failedPreparations: [String: PostgresError] = [:]
  private var inFlight = FIFO<Outstanding>()
  /// The steps of every request in flight, in order; the first is the current one.
  private var steps = FIFO<Step>()
  private var inSimpleMode = false

  /// At most this many statements are prepared; further SQL runs as the unnamed statement.
  let statementCacheCapacity: Int

  init(statementCacheCapacity: Int = 512) {
    self.statementCacheCapacity = statementCacheCapacity
  }

  /// The requests sent and not yet complete.
  var inFlightCount: Int { self.inFlight.count }

  /// The request whose results are being read now (the server is running it or has run it).
  var head: RequestID? { self.inFlight.first?.id }

  /// The number of statements prepared on the connection.
  var preparedStatementCount: Int { self.statements.count }

  /// True when an extended-protocol request can be sent now (no simple query in progress).
  var canSendExtended: Bool { !self.inSimpleMode }

  /// True when a simple query can be sent now (nothing in flight).
  var canSendSimple: Bool { !self.inSimpleMode && self.inFlight.isEmpty }

  /// Plans an extended-protocol request of one or more statements, returning the libpq calls to
  /// make. `resultIndex` is the statement whose result the request returns.
  mutating func plan(_ id: RequestID, statements: [StatementKey], resultIndex: Int) -> [Command] {
    var commands: [Command] = []
    self.plan(id, statements: statements, resultIndex: resultIndex, into: &commands)
    return commands
  }

  /// ``plan(_:statements:resultIndex:)`` appending to `commands`, which the I/O thread reuses
  /// so that sending a statement allocates nothing here.
  mutating func plan(
    _ id: RequestID, statements: some Collection<StatementKey>, resultIndex: Int,
    into commands: inout [Command]
  ) {
    precondition(self.canSendExtended, "an extended request cannot be sent during a simple query")
    for (index, key) in statements.enumerated() {
      let keep = index == resultIndex
      if !key.cacheable {
        commands.append(.executeUnnamed(statement: index))
        self.steps.append(.execute(keep: keep, name: nil))
      } else if let name = self.statements[key] {
        commands.append(.executePrepared(name: name, statement: index))
        self.steps.append(.execute(keep: keep, name: name))
      } else if self.statements.count < self.statementCacheCapacity {
        let name = "s\(self.nextStatementNumber)"
        self.nextStatementNumber += 1
        self.statements[key] = name
        commands.append(.prepare(name: name, statement: index))
        commands.append(.executePrepared(name: name, statement: index))
        self.steps.append(.prepare(name: name))
        self.steps.append(.execute(keep: keep, name: name))
      } else {
        commands.append(.executeUnnamed(statement: index))
        self.steps.append(.execute(keep: keep, name: nil))
      }
    }
    commands.append(.sync)
    self.steps.append(.sync)
    self.inFlight.append(Outstanding(id: id))
  }

  /// Plans a simple-protocol query (several statements in one string). Call only when
  /// ``canSendSimple`` is true.
  mutating func planSimple(_ id: RequestID) -> [Command] {
    precondition(self.canSendSimple, "a simple query needs an idle pipeline")
    self.inSimpleMode = true
    self.steps.append(.simple(copy: false))
    self.inFlight.append(Outstanding(id: id))
    return [.simpleQuery]
  }

  /// Plans a `COPY ... FROM STDIN` (a simple query, possibly after constant statements such as
  /// a transaction's `BEGIN`). Call only when ``canSendSimple`` is true.
  mutating func planCopy(_ id: RequestID) -> [Command] {
    precondition(self.canSendSimple, "a COPY needs an idle pipeline")
    self.inSimpleMode = true
    self.steps.append(.simple(copy: true))
    self.inFlight.append(Outstanding(id: id))
    return [.simpleQuery]
  }

  /// Accounts for one event from `PQgetResult`.
  mutating func receive(_ event: Event) -> Reaction {
    guard var current = self.inFlight.first, let step = self.steps.first else {
      return .protocolViolation("a result arrived with no request in flight")
    }
    var reaction = Reaction.none

    switch (step, event) {
    case (.sync, .sync):
      _ = self.inFlight.popFirst()
      _ = self.steps.popFirst()
      if self.inFlight.isEmpty {
        self.failedPreparations.removeAll()
      }
      return .complete(current.id, error: current.error, enterPipelineMode: false)

    case (.sync, _), (_, .sync):
      return .protocolViolation("results and sync points are out of step")

    case (.simple(copy: true), .copyIn):
      // Asked once: the step then reads the COPY's own result, like any simple query.
      guard current.error == nil else {
        return .protocolViolation("the server asked for COPY data after an error")
      }
      self.steps.updateFirst { $0 = .simple(copy: false) }
      current.hadResult = true
      self.inFlight.updateFirst { $0 = current }
      return .startCopy(current.id)

    case (_, .copyIn):
      return .protocolViolation("the server asked for COPY data the request does not have")

    case (.simple, .end):
      _ = self.inFlight.popFirst()
      _ = self.steps.popFirst()
      self.inSimpleMode = false
      return .complete(current.id, error: current.error, enterPipelineMode: true)

    case (_, .end):
      guard current.hadResult else {
        return .protocolViolation("a statement ended without a result")
      }
      _ = self.steps.popFirst()
      current.hadResult = false

    case (.simple, .success):
      current.hadResult = true
      if current.error == nil {
        reaction = .keepResult
      }

    case (.simple, .failure(let error)):
      current.hadResult = true
      if current.error == nil {
        current.error = error
      }

    case (.simple, .aborted):
      current.hadResult = true

    case (.prepare, .success):
      current.hadResult = true

    case (.prepare(let name), .failure(let error)):
      current.hadResult = true
      if current.error == nil {
        current.error = error
      }
      self.forgetStatement(named: name, failure: error)

    case (.prepare(let name), .aborted):
      // An earlier statement of this request failed, so the statement was never prepared.
      current.hadResult = true
      self.forgetStatement(
        named: name,
        failure: current.error
          ?? PostgresError.client(.server, "An earlier statement in the pipeline failed."))

    case (.execute(let keep, _), .success):
      current.hadResult = true
      if keep && current.error == nil {
        reaction = .keepResult
      }

    case (.execute(_, let name), .failure(var error)):
      current.hadResult = true
      if error.sqlState == SQLState.invalidStatementName, let name,
        let original = self.failedPreparations[name]
      {
        error = original
      }
      if error.sqlState == "0A000", let name {
        // "cached plan must not change result type": the table changed under the statement.
        self.forgetStatement(named: name, failure: nil)
      }
      if current.error == nil {
        current.error = error
      }

    case (.execute, .aborted):
      current.hadResult = true
    }

    self.inFlight.updateFirst { $0 = current }
    return reaction
  }

  /// Drops every request in flight (the connection is gone), returning their ids in order.
  mutating func failAll() -> [RequestID] {
    self.inSimpleMode = false
    self.failedPreparations.removeAll()
    // Statements prepared on a dead connection do not exist on the next one.
    self.statements.removeAll()
    _ = self.steps.drain()
    return self.inFlight.drain().map(\.id)
  }

  private mutating func forgetStatement(named name: String, failure: PostgresError?) {
    if let key = self.statements.first(where: { $0.value == name })?.key {
      self.statements[key] = nil
    }
    if let failure {
      self.failedPreparations[name] = failure
    }
  }
}
