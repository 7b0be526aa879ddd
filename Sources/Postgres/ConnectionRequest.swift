/// A caller's request, queued for the I/O thread.
struct ConnectionRequest: Sendable {
  enum Payload: Sendable {
    /// Statements sent with the extended protocol, ending with one sync point; the request
    /// returns the result of `statements[resultIndex]`.
    case extended([PostgresStatement], resultIndex: Int)
    /// A script sent with the simple query protocol.
    case simple(String)
    /// `COPY ... FROM STDIN`, sent with the simple query protocol (after constant statements
    /// such as a transaction's `BEGIN`, if any); its data comes from a ``PostgresCopyWriter``.
    case copy(String)
  }

  /// Resumed exactly once, by the I/O thread or by the refusal in
  /// `PostgresConnection.enqueueRequest`: unchecked, which saves an allocation per statement
  /// (the driver's tests cover every path that resumes one).
  typealias Continuation = UnsafeContinuation<PostgresRows, any Error>

  var id: UInt64
  var payload: Payload
  var continuation: Continuation
  var deadline: ContinuousClock.Instant?
  /// A pool statement outside any transaction: it may be sent again if a cancel meant for
  /// another caller's statement hit it (it ran in its own implicit transaction, rolled back).
  var isShared: Bool
  var retried = false
}
