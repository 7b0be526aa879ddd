import CLibPQ
import Foundation

/// The few libpq calls the launcher makes: `PQping` for readiness and `CREATE DATABASE`.
///
/// Each runs on a ``DedicatedThread``; a connection is opened, used and finished on that one
/// thread and never escapes it.
enum ServerAdministration {
  /// What `PQping` reported.
  enum Ping: Sendable, Hashable {
    /// The server accepts connections.
    case accepting
    /// The server is up but refuses connections (starting up or shutting down).
    case rejecting
    /// Nothing answered.
    case noResponse
    /// libpq did not try (bad connection parameters).
    case noAttempt
  }

  /// Pings the server at `url`, waiting at most `connectTimeoutSeconds` for an answer.
  static func ping(_ url: String, connectTimeoutSeconds: Int = 2) async -> Ping {
    let target = PostgresURL.adding("connect_timeout", String(connectTimeoutSeconds), to: url)
    let result = try? await DedicatedThread.run(named: "emporium-pg-ping") { () -> Ping in
      switch PQping(target) {
      case PQPING_OK: return .accepting
      case PQPING_REJECT: return .rejecting
      case PQPING_NO_RESPONSE: return .noResponse
      default: return .noAttempt
      }
    }
    return result ?? .noAttempt
  }

  /// Creates database `name` through a connection to `adminURL`.
  ///
  /// - Parameters:
  ///   - name: The new database's name, quoted with `PQescapeIdentifier`, so any text that is a
  ///     valid PostgreSQL name (1–63 bytes, no NUL) is safe.
  ///   - adminURL: A URL of a role allowed to create (and, for `.replace`, drop) databases.
  ///   - ifExists: What to do when the database exists already.
  /// - Throws: ``EmbeddedPostgresError/Code/invalidArgument``, ``EmbeddedPostgresError/Code/connectionFailed``
  ///   or ``EmbeddedPostgresError/Code/sqlFailed``.
  static func createDatabase(
    _ name: String,
    adminURL: String,
    ifExists: EmbeddedPostgres.IfDatabaseExists
  ) async throws {
    try Self.validateDatabaseName(name)
    let url = PostgresURL.adding("connect_timeout", "10", to: adminURL)
    try await DedicatedThread.run(named: "emporium-pg-createdb") {
      guard let connection = PQconnectdb(url) else {
        throw EmbeddedPostgresError(
          code: .connectionFailed, message: "libpq could not allocate a connection.")
      }
      defer { PQfinish(connection) }
      guard PQstatus(connection) == CONNECTION_OK else {
        throw EmbeddedPostgresError(
          code: .connectionFailed,
          message: "Could not connect to create database \(name): \(Self.errorMessage(connection))"
        )
      }
      // libpq's default prints notices ("database ... does not exist, skipping") to stderr.
      PQsetNoticeProcessor(connection, { _, _ in }, nil)
      guard let escaped = PQescapeIdentifier(connection, name, name.utf8.count) else {
        throw EmbeddedPostgresError(
          code: .invalidArgument,
          message: "Could not quote the database name \(name): \(Self.errorMessage(connection))"
        )
      }
      let identifier = String(cString: escaped)
      PQfreemem(escaped)

      do {
        if ifExists == .replace {
          // FORCE ends other sessions on it (PostgreSQL 13 and later).
          try Self.execute(
            "DROP DATABASE IF EXISTS \(identifier) WITH (FORCE)", on: connection, creating: name)
        }
        try Self.execute("CREATE DATABASE \(identifier)", on: connection, creating: name)
      } catch let failure as SQLFailure {
        // 42P04 is duplicate_database.
        guard failure.sqlState == "42P04", ifExists == .reuse else { throw failure.error }
      }
    }
  }

  /// Rejects names PostgreSQL would refuse or silently truncate (which could make two different
  /// names the same database).
  static func validateDatabaseName(_ name: String) throws {
    guard !name.isEmpty, name.utf8.count <= 63, !name.utf8.contains(0) else {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message:
          "A database name must be 1 to 63 bytes of UTF-8 without NUL; got \(name.utf8.count) bytes."
      )
    }
  }

  /// A failed statement, with the server's SQLSTATE so callers can tell "already exists".
  private struct SQLFailure: Error {
    var sqlState: String
    var error: EmbeddedPostgresError
  }

  private static func execute(_ sql: String, on connection: OpaquePointer, creating name: String)
    throws
  {
    let result = PQexec(connection, sql)
    defer { PQclear(result) }
    guard PQresultStatus(result) != PGRES_COMMAND_OK else { return }

    // PG_DIAG_SQLSTATE is the field code 'C'.
    let state =
      PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
    let message =
      result.map { String(cString: PQresultErrorMessage($0)) } ?? Self.errorMessage(connection)
    throw SQLFailure(
      sqlState: state,
      error: EmbeddedPostgresError(
        code: .sqlFailed,
        message:
          "Could not create database \(name): \(message.trimmingCharacters(in: .whitespacesAndNewlines))"
      )
    )
  }

  private static func errorMessage(_ connection: OpaquePointer) -> String {
    String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
