/// The deadline of the work the current task does, which statements inherit.
///
/// A statement run while a deadline is set gets a server-side `statement_timeout` of the time
/// remaining (set for that statement's transaction only, with `set_config(..., true)`), and a
/// client-side timer that fails the caller with ``PostgresError/Code/statementTimeout`` and
/// cancels the statement on the server (`PQcancel`) at the deadline. A deadline already past
/// fails the statement without sending it.
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
