/// The deadline of the work the current task does, which statements inherit.
///
/// A statement run while a deadline is set is sent as it is; the driver enforces the deadline
/// itself: when it passes, the caller fails with ``PostgresError/Code/statementTimeout`` and the
/// statement is cancelled on the server with `PQcancel` (at once if the server is running it,
/// else when it reaches the head of its connection's pipeline). No `statement_timeout` is set,
/// so a statement under a deadline costs no extra statement or round trip. A deadline already
/// past fails the statement without sending it.
///
/// ```swift
/// try await PostgresDeadline.$current.withValue(.now + .milliseconds(250)) {
///   try await pool.query("SELECT ...")
/// }
/// ```
///
/// ``PostgresPool/Configuration/deadline`` can read another task-local instead (the RPC layer's
/// call deadline), so handlers' statements inherit the caller's remaining budget without code.
public enum PostgresDeadline {
  /// The deadline statements in this task inherit; nil for none.
  @TaskLocal public static var current: ContinuousClock.Instant?
}
