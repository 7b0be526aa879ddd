/// What one statement did, reported to ``PostgresPool/Configuration/onQuery`` and counted in
/// ``PostgresPool/metrics``: per-query metrics without a metrics dependency.
///
/// Carries the SQL text (never the parameter values), how long the caller waited, and the
/// outcome.
public struct PostgresQueryEvent: Sendable {
  /// How a statement ended.
  public enum Outcome: Sendable, Hashable {
    /// It succeeded and returned `rows` rows.
    case succeeded(rows: Int)
    /// It failed with `error`.
    case failed(PostgresError)
    /// The caller's task was cancelled.
    case cancelled
  }

  /// The SQL of the statement whose result the caller asked for (`nil` for none).
  public var sql: String
  /// From submitting the statement to its result reaching the caller.
  public var duration: Duration
  /// How it ended.
  public var outcome: Outcome

  /// Creates an event.
  public init(sql: String, duration: Duration, outcome: Outcome) {
    self.sql = sql
    self.duration = duration
    self.outcome = outcome
  }

  init(
    payload: ConnectionRequest.Payload, duration: Duration,
    outcome: Result<PostgresRows, any Error>
  ) {
    switch payload {
    case .extended(let statements, let resultIndex):
      self.sql = statements[resultIndex].sql
    case .simple(let sql), .copy(let sql):
      self.sql = sql
    }
    self.duration = duration
    switch outcome {
    case .success(let rows):
      self.outcome = .succeeded(rows: rows.count)
    case .failure(let error as PostgresError):
      self.outcome = .failed(error)
    case .failure:
      self.outcome = .cancelled
    }
  }
}
