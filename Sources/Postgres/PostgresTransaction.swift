/// The handle a transaction body gets from ``PostgresPool/withTransaction(isolation:maxAttempts:_:)``:
/// runs statements inside the transaction, on a connection nobody else uses meanwhile.
///
/// `BEGIN` travels with the first statement, in the same round trip. Statements may run
/// concurrently (`async let`): they are pipelined on the transaction's connection and run in the
/// order they were submitted. The handle is valid only inside the body.
public struct PostgresTransaction: Sendable {
  let connection: PostgresConnection
  let deadline: ContinuousClock.Instant?

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
  /// - Returns: The statement's rows.
  /// - Throws: ``PostgresError`` or `CancellationError`, as ``PostgresConnection/query(_:_:deadline:)``.
  @discardableResult
  public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws
    -> PostgresRows
  {
    let statement = PostgresStatement(sql: sql, bindings: try PostgresBindings(parameters))
    return try await self.connection.run(
      [statement], resultIndex: 0, deadline: self.deadline, isShared: false)
  }
}
