/// SQLSTATE codes the driver acts on, and names for the common ones.
///
/// The full list is in PostgreSQL's documentation, appendix A ("PostgreSQL Error Codes").
public enum SQLState {
  /// `40001` serialization_failure: retried by ``PostgresPool/withTransaction(isolation:maxAttempts:_:)``.
  public static let serializationFailure = "40001"
  /// `40P01` deadlock_detected: retried by ``PostgresPool/withTransaction(isolation:maxAttempts:_:)``.
  public static let deadlockDetected = "40P01"
  /// `57014` query_canceled: a statement timeout or a cancel request.
  public static let queryCanceled = "57014"
  /// `23505` unique_violation.
  public static let uniqueViolation = "23505"
  /// `23503` foreign_key_violation.
  public static let foreignKeyViolation = "23503"
  /// `26000` invalid_sql_statement_name (a prepared statement that does not exist).
  public static let invalidStatementName = "26000"
  /// `25P02` in_failed_sql_transaction.
  public static let inFailedTransaction = "25P02"
  /// `57P01` admin_shutdown: the server is shutting down.
  public static let adminShutdown = "57P01"

  private static let names: [String: String] = [
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
    "57014": "query_canceled",
    "23505": "unique_violation",
    "23503": "foreign_key_violation",
    "23502": "not_null_violation",
    "23514": "check_violation",
    "23P01": "exclusion_violation",
    "22P02": "invalid_text_representation",
    "22003": "numeric_value_out_of_range",
    "22012": "division_by_zero",
    "22001": "string_data_right_truncation",
    "22P03": "invalid_binary_representation",
    "26000": "invalid_sql_statement_name",
    "25P02": "in_failed_sql_transaction",
    "25001": "active_sql_transaction",
    "42601": "syntax_error",
    "42P01": "undefined_table",
    "42703": "undefined_column",
    "42883": "undefined_function",
    "42804": "datatype_mismatch",
    "42P18": "indeterminate_datatype",
    "42501": "insufficient_privilege",
    "42P07": "duplicate_table",
    "42710": "duplicate_object",
    "55P03": "lock_not_available",
    "57P01": "admin_shutdown",
    "57P02": "crash_shutdown",
    "57P03": "cannot_connect_now",
    "08006": "connection_failure",
    "08001": "sqlclient_unable_to_establish_sqlconnection",
    "53300": "too_many_connections",
    "P0001": "raise_exception",
    "XX000": "internal_error",
  ]

  /// The condition name of `code` (such as `unique_violation` for `23505`), for the common codes.
  public static func conditionName(_ code: String) -> String? {
    Self.names[code]
  }
}
