extension PostgresPool {
  /// How a pool behaves. Only the URL has no default.
  public struct Configuration: Sendable {
    /// How each connection connects (URL, connect timeout, statement cache size).
    public var connection: PostgresConnection.Configuration

    /// Connections kept open even when idle (reopened after a server restart). Default 1.
    public var minimumConnections: Int

    /// The most connections open at once (not counting the LISTEN connection). Default 16.
    public var maximumConnections: Int

    /// The most statements from different callers in flight on one connection at once (outside
    /// transactions). Higher values share more round trips; a slow statement delays the ones
    /// pipelined behind it. Default 16.
    public var maximumPipelineDepth: Int

    /// How long a caller waits for a connection before ``PostgresError/Code/acquireTimeout``.
    /// Default 10 seconds.
    public var acquireTimeout: Duration

    /// Idle connections are checked with `SELECT 1` once idle this long. Default 30 seconds.
    public var healthCheckInterval: Duration

    /// Connections above the minimum close once idle this long. Default 5 minutes.
    public var idleTimeout: Duration

    /// The first wait before reconnecting after a failed connect; doubled after each further
    /// failure, with jitter. Default 50 milliseconds.
    public var reconnectInitialDelay: Duration

    /// The longest wait between reconnect attempts. Default 2 seconds. The pool never stops
    /// trying while it is open.
    public var reconnectMaximumDelay: Duration

    /// How many times ``PostgresPool/withTransaction(isolation:maxAttempts:_:)`` runs a
    /// transaction that keeps failing with `40001` or `40P01`. Default 5.
    public var transactionMaxAttempts: Int

    /// The first back-off before a transaction is retried; doubled each retry up to
    /// ``transactionMaximumDelay``, and each wait is a random 50–100% of that. Default 5 milliseconds.
    public var transactionInitialDelay: Duration

    /// The longest back-off between transaction attempts. Default 500 milliseconds.
    public var transactionMaximumDelay: Duration

    /// The caller's deadline, read when a statement starts. The default reads
    /// ``PostgresDeadline/current``; the server passes one that reads its call deadline.
    public var deadline: @Sendable () -> ContinuousClock.Instant?

    /// Called after every statement with its SQL, duration and outcome (never its parameters),
    /// on whichever thread finished it; must return quickly. For exporting per-query metrics.
    public var onQuery: (@Sendable (PostgresQueryEvent) -> Void)?

    /// Creates a configuration; every parameter has the default described on its property.
    public init(
      url: String,
      minimumConnections: Int = 1,
      maximumConnections: Int = 16,
      maximumPipelineDepth: Int = 16,
      acquireTimeout: Duration = .seconds(10),
      healthCheckInterval: Duration = .seconds(30),
      idleTimeout: Duration = .seconds(300),
      reconnectInitialDelay: Duration = .milliseconds(50),
      reconnectMaximumDelay: Duration = .seconds(2),
      transactionMaxAttempts: Int = 5,
      transactionInitialDelay: Duration = .milliseconds(5),
      transactionMaximumDelay: Duration = .milliseconds(500),
      deadline: @escaping @Sendable () -> ContinuousClock.Instant? = { PostgresDeadline.current },
      onQuery: (@Sendable (PostgresQueryEvent) -> Void)? = nil
    ) {
      self.connection = PostgresConnection.Configuration(url: url)
      self.minimumConnections = minimumConnections
      self.maximumConnections = maximumConnections
      self.maximumPipelineDepth = maximumPipelineDepth
      self.acquireTimeout = acquireTimeout
      self.healthCheckInterval = healthCheckInterval
      self.idleTimeout = idleTimeout
      self.reconnectInitialDelay = reconnectInitialDelay
      self.reconnectMaximumDelay = reconnectMaximumDelay
      self.transactionMaxAttempts = transactionMaxAttempts
      self.transactionInitialDelay = transactionInitialDelay
      self.transactionMaximumDelay = transactionMaximumDelay
      self.deadline = deadline
      self.onQuery = onQuery
    }

    func validate() throws {
      guard self.minimumConnections >= 0, self.maximumConnections >= 1,
        self.minimumConnections <= self.maximumConnections, self.maximumPipelineDepth >= 1,
        self.transactionMaxAttempts >= 1, self.acquireTimeout > .zero
      else {
        throw PostgresError.client(
          .invalidArgument,
          "Pool configuration: need 0 <= minimumConnections <= maximumConnections, "
            + "maximumConnections >= 1, maximumPipelineDepth >= 1, transactionMaxAttempts >= 1 "
            + "and a positive acquireTimeout.")
      }
    }
  }
}
