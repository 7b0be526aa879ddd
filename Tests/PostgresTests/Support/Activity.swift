import Postgres

/// Looks at the server through a connection of its own, the way an operator would.
enum Activity {
  /// How many sessions run a statement whose text contains `marker` right now (excluding the
  /// session asking).
  static func activeStatements(containing marker: String, on connection: PostgresConnection) async throws -> Int64 {
    try await connection.query(
      "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND position($1 in query) > 0",
      [marker]
    ).scalar(as: Int64.self) ?? 0
  }
}
