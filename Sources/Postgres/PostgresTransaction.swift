import Synchronization

/// The handle a transaction body gets from ``PostgresPool/withTransaction(isolation:maxAttempts:_:)``:
/// runs statements inside the transaction, on a connection nobody else uses meanwhile.
///
/// `BEGIN` travels with the first statement, in the same round trip. Statements may run
/// concurrently (`async let`): they are pipelined on the transaction's connection and run in the
/// order they were submitted. The handle is valid only inside the body.
public struct PostgresTransaction: Sendable {
  let connection: PostgresConnection
  let deadline: ContinuousClock.Instant?
  /// Set once ``queryAndCommit(_:_:)`` has committed; shared by copies of the handle.
  let committed: TransactionCommitFlag

  init(connection: PostgresConnection, deadline: ContinuousClock.Instant?) {
    self.connection = connection
    self.deadline = deadline
    self.committed = TransactionCommitFlag()
  }

  /// The transaction's connection, for APIs that take one; do not run `COMMIT` or `ROLLBACK`
  /// on it yourself.
  public var underlyingConnection: PostgresConnection { self.connection }

  /// Runs one statement in the transaction.
  ///
  /// A failed statement aborts the transaction: throw out of the body so that it rolls back (and
  /// is retried if the failure was `40001` or `40P01`).
  ///
  /// - Parameters:
  ///   - sql: One SQL statement with `$1`, `$2`, ... for the parameters.
  ///   - parameters: The values, bound in binary format.
  ///   - planning: Whether the statement is prepared and kept, or planned on every call
  ///     (``Statement/init(_:_:planning:)`` says when to choose which).
  /// - Returns: The statement's rows.
  /// - Throws: ``PostgresError`` or `CancellationError`, as ``PostgresConnection/query(_:_:deadline:)``.
  @discardableResult
  public func query(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: PostgresPool.Planning = .cached) async throws
    -> PostgresRows
  {
    try self.checkOpen()
    let statement = PostgresStatement(sql: sql, bindings: try PostgresBindings(parameters), cacheable: planning == .cached)
    return try await self.connection.run(
      [statement], resultIndex: 0, deadline: self.deadline, isShared: false)
  }

  /// Runs the transaction's last statement and `COMMIT` in the same round trip, and returns the
  /// statement's rows. The body should return right after; the transaction is over.
  ///
  /// Saves the round trip the pool's own `COMMIT` would take. If the statement fails, `COMMIT`
  /// is skipped (the pipeline aborts it) and the error is thrown; if `COMMIT` fails (a
  /// serialization failure or a deferred constraint), its error is thrown. Either way, throw out
  /// of the body as usual: the transaction rolls back, and `40001`/`40P01` are retried.
  ///
  /// - Throws: What ``query(_:_:)`` throws; ``PostgresError/Code/invalidArgument`` once the
  ///   transaction has been committed.
  @discardableResult
  public func queryAndCommit(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws
    -> PostgresRows
  {
    try self.checkOpen()
    let statement = PostgresStatement(sql: sql, bindings: try PostgresBindings(parameters))
    let rows = try await self.connection.run(
      [statement, PostgresStatement(sql: "COMMIT", bindings: .init())], resultIndex: 0,
      deadline: self.deadline, isShared: false)
    self.committed.value.store(true, ordering: .releasing)
    return rows
  }

  /// One statement of a batch (``query(_:)-([Statement])``, ``queryAndCommit(_:)-([Statement])``):
  /// SQL with `$1`, `$2`, ... and its parameters.
  public struct Statement: Sendable {
    let statement: PostgresStatement

    /// - Parameters:
    ///   - planning: As for ``PostgresPool/query(_:_:deadline:planning:)``. ``PostgresPool/Planning/perCall``
    ///     suits a statement that joins a table with a list of keys and runs on a table that grows
    ///     from empty: a generic plan made while the table was small may scan all of it, and it
    ///     is kept as the table grows until the next ANALYZE.
    /// - Throws: ``PostgresError`` when a parameter cannot be encoded.
    public init(_ sql: String, _ parameters: [any PostgresEncodable] = [], planning: PostgresPool.Planning = .cached) throws {
      self.statement = PostgresStatement(sql: sql, bindings: try PostgresBindings(parameters), cacheable: planning == .cached)
    }
  }

  /// Runs `statements` in order in one round trip, and returns the last one's rows.
  ///
  /// For statements that do not need each other's results: they are sent together, and the
  /// server runs them one after another. The first that fails skips the rest, and its error is
  /// thrown (the transaction is aborted: throw out of the body). An empty batch runs nothing.
  @discardableResult
  public func query(_ statements: [Statement]) async throws -> PostgresRows {
    try self.checkOpen()
    guard !statements.isEmpty else { return PostgresRows(nil) }
    return try await self.connection.run(
      statements.map(\.statement), resultIndex: statements.count - 1, deadline: self.deadline, isShared: false)
  }

  /// Runs `statements` in order and then `COMMIT`, all in one round trip, and returns the last
  /// statement's rows: ``queryAndCommit(_:_:)`` for several statements. The body should return
  /// right after; the transaction is over.
  ///
  /// If a statement fails, the rest and `COMMIT` are skipped and its error is thrown; throw out
  /// of the body as usual (the transaction rolls back, and `40001`/`40P01` are retried). An empty
  /// batch commits alone.
  @discardableResult
  public func queryAndCommit(_ statements: [Statement]) async throws -> PostgresRows {
    try self.checkOpen()
    let rows = try await self.connection.run(
      statements.map(\.statement) + [PostgresStatement(sql: "COMMIT", bindings: .init())],
      resultIndex: max(0, statements.count - 1), deadline: self.deadline, isShared: false)
    self.committed.value.store(true, ordering: .releasing)
    return rows
  }

  /// Runs `COPY ... FROM STDIN` in the transaction, with the data `body` writes; returns the
  /// rows copied. As ``PostgresConnection/copyFrom(_:deadline:_:)``; a failed COPY aborts the
  /// transaction (throw out of the body so that it rolls back).
  @discardableResult
  public func copyFrom(_ sql: String, _ body: (PostgresCopyWriter) async throws -> Void) async throws -> Int {
    try self.checkOpen()
    return try await self.connection.copy(sql, deadline: self.deadline, body)
  }

  var isCommitted: Bool { self.committed.value.load(ordering: .acquiring) }

  private func checkOpen() throws {
    if self.isCommitted {
      throw PostgresError.client(
        .invalidArgument, "The transaction was already committed by queryAndCommit.")
    }
  }
}

/// A flag shared by all copies of a ``PostgresTransaction``.
final class TransactionCommitFlag: Sendable {
  let value = Atomic<Bool>(false)
}
