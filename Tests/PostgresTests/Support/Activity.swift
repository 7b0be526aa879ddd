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

  /// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
  static func eventually(
    within timeout: Duration = .seconds(5),
    _ condition: () async throws -> Bool
  ) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      if try await condition() {
        return true
      }
      try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
  }
}
