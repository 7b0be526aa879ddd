import Foundation
import Synchronization

/// Fresh databases for test suites, on one server per test process.
///
/// ```swift
/// @Suite struct CatalogTests {
///   @Test func search() async throws {
///     let url = try await TestCluster.createDatabase("catalog_search_tests")
///     // connect to url ...
///   }
/// }
/// ```
///
/// The server is the one named by the environment variable `EMPORIUM_TEST_DATABASE_URL` (a
/// `postgresql://` URL of a role allowed to create and drop databases) when that is set and not
/// empty; otherwise ``EmbeddedPostgres/shared()``, a temporary cluster started on first use and
/// removed by its watchdog when the test process exits.
///
/// Each name gives a new, empty database. A database of that name left on the server by an
/// earlier run is dropped first (`DROP DATABASE ... WITH (FORCE)`), so names must be unique among
/// the suites of one test run; asking for the same name twice in one process is an error rather
/// than a silent drop of a database another suite is using. The databases are not dropped
/// afterwards: the embedded cluster disappears with the process, and on an external server the
/// next run replaces them.
public enum TestCluster {
  /// The environment variable naming an existing server to use instead of launching one.
  public static let databaseURLEnvironmentVariable = "EMPORIUM_TEST_DATABASE_URL"

  /// Names handed out in this process.
  private static let claimed = Mutex<Set<String>>([])

  /// Creates a fresh database and returns its URL.
  ///
  /// Starts the shared cluster if this is the first call in the process (a few seconds). The
  /// libpq work runs on a thread of its own; cancelling the caller does not interrupt it.
  ///
  /// - Parameter name: The database name, unique within the test run (1–63 bytes).
  /// - Returns: A URL of the new database, with the server's credentials.
  /// - Throws: ``EmbeddedPostgresError`` (``EmbeddedPostgresError/Code/invalidArgument`` for a
  ///   name used before in this process), or what ``EmbeddedPostgres/shared()`` throws.
  public static func createDatabase(_ name: String) async throws -> String {
    try ServerAdministration.validateDatabaseName(name)
    let isNew = Self.claimed.withLock { $0.insert(name).inserted }
    guard isNew else {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message: "The test database \(name) was already created in this process; "
          + "give each suite its own name."
      )
    }
    do {
      if let server = ProcessInfo.processInfo.environment[Self.databaseURLEnvironmentVariable],
        !server.isEmpty
      {
        let url = try PostgresURL.replacingDatabase(in: server, with: name)
        try await ServerAdministration.createDatabase(name, adminURL: server, ifExists: .replace)
        return url
      }
      return try await EmbeddedPostgres.shared().createDatabase(name, ifExists: .replace)
    } catch {
      _ = Self.claimed.withLock { $0.remove(name) }
      throw error
    }
  }
}
