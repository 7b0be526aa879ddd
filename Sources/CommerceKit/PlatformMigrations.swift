public import Postgres
import Foundation

/// The shared layer's tables (idempotency keys, outbox), which every service schema holds.
public enum PlatformMigrations {
  /// The history table these migrations are recorded in, beside the service's own
  /// `schema_migrations`.
  public static let history = "platform_migrations"

  /// The migrations, shipped as this module's resources.
  public static func load() throws -> [Migration] {
    guard let directory = Bundle.module.resourceURL?.appendingPathComponent("Migrations").path else {
      throw PostgresError(code: .invalidArgument, message: "CommerceKit's migrations are missing from its bundle")
    }
    return try Migration.load(directory: directory)
  }

  /// Creates or updates the shared tables in `schema`.
  @discardableResult
  public static func apply(to schema: String, pool: PostgresPool) async throws -> Migrator.Report {
    try await Migrator(pool: pool, schema: schema, history: history).migrate(try load())
  }
}
