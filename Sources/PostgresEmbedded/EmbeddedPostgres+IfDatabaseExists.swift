extension EmbeddedPostgres {
  /// What ``EmbeddedPostgres/createDatabase(_:ifExists:)`` does when the database exists.
  public enum IfDatabaseExists: Sendable, Hashable {
    /// Throw ``EmbeddedPostgresError/Code/sqlFailed`` (the default): the caller asked for a
    /// fresh database and did not get one.
    case fail
    /// Keep the existing database and its contents, for a user-named data directory that a
    /// server starts on again and again.
    case reuse
    /// Drop the existing database (ending its sessions) and create an empty one, for a database
    /// left behind by an earlier test run.
    case replace
  }
}
