public import Postgres
public import RPC

extension PostgresError: RPCErrorConvertible {
  /// The status a caller sees when a handler lets a database error escape: never UNKNOWN, and
  /// never the server's message or SQL text (the error itself is kept as the cause, for logs).
  ///
  /// - unique violation (23505): ALREADY_EXISTS
  /// - serialization failure and deadlock (40001, 40P01), which transactions retry first: ABORTED
  /// - statement timeout or an acquire that outlived the deadline: DEADLINE_EXCEEDED
  /// - a statement cancelled with its caller: CANCELLED
  /// - no connection, a lost connection, a closed pool: UNAVAILABLE
  /// - check, foreign-key and not-null violations (23514, 23503, 23502): FAILED_PRECONDITION
  /// - anything else: INTERNAL
  public var rpcError: RPCError {
    let (code, message): (RPCStatusCode, String) =
      switch self.code {
      case .statementTimeout, .acquireTimeout: (.deadlineExceeded, "the database did not answer within the deadline")
      case .queryCancelled: (.cancelled, "the database statement was cancelled")
      case .connectionFailed, .connectionClosed, .connectionUnavailable, .poolClosed:
        (.unavailable, "the database is unavailable")
      case .transactionFailed: (.aborted, "the transaction conflicted with another; retry")
      case .server: Self.status(forSQLState: sqlState)
      default: (.internal, "a database operation failed")
      }
    return RPCError(code: code, message: message, cause: self)
  }

  private static func status(forSQLState state: String?) -> (RPCStatusCode, String) {
    switch state {
    case "23505": (.alreadyExists, "the resource already exists")
    case "40001", "40P01": (.aborted, "the transaction conflicted with another; retry")
    case "57014": (.deadlineExceeded, "the database did not answer within the deadline")
    case "23514", "23503", "23502": (.failedPrecondition, "the change conflicts with the current state")
    case "53300", "57P01", "57P02", "57P03", "08000", "08003", "08006": (.unavailable, "the database is unavailable")
    default: (.internal, "a database operation failed")
    }
  }
}
