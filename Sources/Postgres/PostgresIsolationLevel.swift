/// A transaction's isolation level (PostgreSQL's `BEGIN ISOLATION LEVEL ...`).
public enum PostgresIsolationLevel: Sendable, Hashable {
  /// Each statement sees data committed before it began (PostgreSQL's default).
  case readCommitted
  /// Every statement sees the snapshot taken at the first statement; concurrent updates to the
  /// same rows fail with `40001`.
  case repeatableRead
  /// As if transactions ran one at a time; conflicts fail with `40001`.
  case serializable

  /// The statement that starts a transaction at this level (a constant, never built from input).
  var beginStatement: String {
    switch self {
    case .readCommitted: "BEGIN ISOLATION LEVEL READ COMMITTED"
    case .repeatableRead: "BEGIN ISOLATION LEVEL REPEATABLE READ"
    case .serializable: "BEGIN ISOLATION LEVEL SERIALIZABLE"
    }
  }
}
