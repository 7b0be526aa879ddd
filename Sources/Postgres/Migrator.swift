/// Applies a schema's migrations, each once, in order, safely when several instances start at
/// the same moment.
///
/// ```swift
/// let report = try await Migrator(pool: pool, schema: "catalog")
///   .migrate(try Migration.load(directory: "Sources/Commerce/Catalog/Migrations"))
/// print(report.applied.map(\.label))
/// ```
///
/// How: on one leased connection it takes a session advisory lock
/// (`pg_advisory_lock(7130001, hashtext(schema))`: the first key is Emporium's migration
/// namespace, so application locks on `hashtext(schema)` alone cannot collide with it), so a
/// second migrator of the same schema waits until the first is done and then finds nothing left
/// to do. It creates the schema and `<schema>.schema_migrations` (or the `history` table given)`(version, name, checksum,
/// applied_at)` if missing, then runs each migration not recorded there in its own transaction
/// (`SET LOCAL search_path TO <schema>, public`, the SQL, the record), and unlocks. The checksum
/// is the SHA-256 of the SQL text, computed by the server: a recorded migration whose SQL has
/// changed since is an error, because the database no longer matches what the files say.
/// Versions recorded in the database but missing from the list (a newer release ran) are
/// reported, not an error.
public struct Migrator: Sendable {
  /// The advisory-lock namespace (first key) for migrations.
  public static let advisoryLockNamespace: Int32 = 7_130_001

  /// The pool the migrator leases a connection from.
  public let pool: PostgresPool
  /// The schema whose migrations this applies.
  public let schema: String
  /// The table in the schema that records applied versions. Two sets of migrations can share a
  /// schema when each has its own history (a shared layer's tables beside a service's own).
  public let history: String

  /// Creates a migrator for `schema` (any name of 1 to 63 bytes; it is quoted as an identifier),
  /// recording applied versions in `<schema>.<history>`.
  public init(pool: PostgresPool, schema: String, history: String = "schema_migrations") {
    self.pool = pool
    self.schema = schema
    self.history = history
  }

  /// What ``migrate(_:)`` did.
  public struct Report: Sendable, Hashable {
    /// The schema.
    public var schema: String
    /// The migrations this call applied, in order.
    public var applied: [Migration]
    /// The versions that were applied already (by an earlier run or a concurrent migrator).
    public var alreadyApplied: [Int]
    /// Versions recorded in the database that the list does not contain.
    public var unknown: [Int]
  }

  /// Applies the migrations not applied yet.
  ///
  /// Cancelling the caller cancels the statement running (including the wait for the lock); the
  /// migration in progress rolls back and the lock is released.
  ///
  /// - Parameter migrations: The schema's migrations, in any order (they run by version).
  /// - Returns: What was applied.
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code/invalidArgument`` (bad versions or
  ///   schema name), ``PostgresError/Code/checksumMismatch`` (an applied migration changed; the
  ///   message names it), ``PostgresError/Code/migrationFailed`` (a migration's SQL failed; the
  ///   message names it and ``PostgresError/sqlState`` is the server's), or what the pool
  ///   throws. Migrations applied before a failure stay applied.
  public func migrate(_ migrations: [Migration]) async throws -> Report {
    try Migration.validate(migrations)
    let ordered = migrations.sorted { $0.version < $1.version }
    let schemaName = self.schema
    let schema = try PostgresListener.quoteIdentifier(schemaName)
    let history = schema + "." + (try PostgresListener.quoteIdentifier(self.history))
    return try await self.pool.withConnection { connection in
      try await connection.query(
        "SELECT pg_advisory_lock($1, hashtext($2))", [Self.advisoryLockNamespace, schemaName])
      do {
        let report = try await Self.applyLocked(
          ordered, schemaName: schemaName, schema: schema, history: history, on: connection)
        try await Self.unlock(schemaName, on: connection)
        return report
      } catch {
        do {
          try await Self.unlock(schemaName, on: connection)
        } catch {
          // The lock is the session's: closing the connection releases it.
          await connection.close()
        }
        throw error
      }
    }
  }

  /// Loads `NNNN_name.sql` files from `directory` (``Migration/load(directory:)``) and applies
  /// them.
  public func migrate(directory: String) async throws -> Report {
    try await self.migrate(try Migration.load(directory: directory))
  }

  private static func applyLocked(
    _ migrations: [Migration],
    schemaName: String,
    schema: String,
    history: String,
    on connection: PostgresConnection
  ) async throws -> Report {
    try await connection.executeScript(
      """
      CREATE SCHEMA IF NOT EXISTS \(schema);
      CREATE TABLE IF NOT EXISTS \(history) (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      );
      """)
    var recorded: [Int: String] = [:]
    for row in try await connection.query(
      "SELECT version, checksum FROM \(history) ORDER BY version")
    {
      recorded[Int(try row.decode(0, as: Int32.self))] = try row.decode(1, as: String.self)
    }

    var report = Report(schema: schemaName, applied: [], alreadyApplied: [], unknown: [])
    let known = Set(migrations.map(\.version))
    report.unknown = recorded.keys.filter { !known.contains($0) }.sorted()
    for migration in migrations {
      guard migration.version <= Int(Int32.max) else {
        throw PostgresError.client(
          .invalidArgument, "Migration \(migration.label) has a version above \(Int32.max).")
      }
      let checksum = try await connection.query(
        "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [migration.sql]
      ).scalar(as: String.self) ?? ""
      if let existing = recorded[migration.version] {
        guard existing == checksum else {
          throw PostgresError.client(
            .checksumMismatch,
            "Migration \(migration.label) of schema \(schemaName) was applied with different SQL "
              + "(checksum \(existing.prefix(12))…, now \(checksum.prefix(12))…); "
              + "add a new migration instead of editing an applied one.")
        }
        report.alreadyApplied.append(migration.version)
        continue
      }
      try await Self.apply(
        migration, checksum: checksum, schemaName: schemaName, schema: schema, history: history, on: connection)
      report.applied.append(migration)
    }
    return report
  }

  private static func apply(
    _ migration: Migration,
    checksum: String,
    schemaName: String,
    schema: String,
    history: String,
    on connection: PostgresConnection
  ) async throws {
    do {
      try await connection.query("BEGIN")
      try await connection.executeScript("SET LOCAL search_path TO \(schema), public;\n" + migration.sql)
      try await connection.query(
        "INSERT INTO \(history) (version, name, checksum) VALUES ($1, $2, $3)",
        [Int32(migration.version), migration.name, checksum])
      try await connection.query("COMMIT")
    } catch {
      _ = try? await connection.run(
        [PostgresStatement(sql: "ROLLBACK", bindings: .init())], resultIndex: 0, deadline: nil,
        isShared: false, ignoresCancellation: true)
      guard var failure = error as? PostgresError else { throw error }
      if failure.code == .server {
        failure.code = .migrationFailed
      }
      throw failure.with(context: "Migration \(migration.label) of schema \(schemaName) failed")
    }
  }

  private static func unlock(_ schemaName: String, on connection: PostgresConnection) async throws {
    var bindings = PostgresBindings()
    bindings.append(Self.advisoryLockNamespace)
    bindings.append(schemaName)
    _ = try await connection.run(
      [PostgresStatement(sql: "SELECT pg_advisory_unlock($1, hashtext($2))", bindings: bindings)],
      resultIndex: 0, deadline: nil, isShared: false, ignoresCancellation: true)
  }
}
