/// Counters and histograms a ``PostgresPool`` keeps, read with ``PostgresPool/metrics``.
///
/// Counters only grow; gauges (`open`, `idle`, ...) are the value when read. Export them to a
/// metrics system by reading them periodically, or use ``PostgresPool/Configuration/onQuery``
/// for every statement.
public struct PostgresPoolMetrics: Sendable, Hashable {
  /// Statements that succeeded.
  public var queriesSucceeded = 0
  /// Statements that failed with a ``PostgresError`` (server errors, timeouts, lost connections).
  public var queriesFailed = 0
  /// Statements whose caller's task was cancelled.
  public var queriesCancelled = 0
  /// Statements that failed with ``PostgresError/Code/statementTimeout``.
  public var statementTimeouts = 0
  /// Statement latency, from submission to result, over all statements.
  public var queryLatency = LatencyHistogram()
  /// Time callers waited for a connection.
  public var acquireLatency = LatencyHistogram()
  /// Callers that gave up waiting for a connection (``PostgresError/Code/acquireTimeout``).
  public var acquireTimeouts = 0
  /// Connections opened.
  public var connectionsOpened = 0
  /// Connection attempts that failed.
  public var connectFailures = 0
  /// Connections that closed (for any reason).
  public var connectionsClosed = 0
  /// Health checks that failed (the connection was closed).
  public var healthCheckFailures = 0
  /// Transactions committed.
  public var transactionsCommitted = 0
  /// Transactions rolled back (including attempts that were then retried).
  public var transactionsRolledBack = 0
  /// Transaction attempts retried after `40001` or `40P01`.
  public var transactionRetries = 0
  /// Statements sent again after losing their connection before they were sent.
  public var statementsResent = 0
  /// The most statements seen in flight on one connection at once (pipelining at work).
  public var maximumPipelineDepthSeen = 0

  /// Connections open or opening now.
  public var openConnections = 0
  /// Connections open and unused now.
  public var idleConnections = 0
  /// Callers waiting for a connection now.
  public var waitingCallers = 0

  /// Creates empty metrics.
  public init() {}
}
