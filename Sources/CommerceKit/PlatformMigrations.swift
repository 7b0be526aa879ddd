public import Postgres
public import Foundation

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

extension Migration {
  /// The migrations a service target ships in its `Migrations` resource folder: pass the
  /// target's own `Bundle.module`. A target that cannot read its own resources was built or
  /// installed wrongly, which no caller can recover from, so this stops the process saying so.
  public static func shipped(in bundle: Bundle, schema: String) -> [Migration] {
    do {
      guard let directory = bundle.url(forResource: "Migrations", withExtension: nil)?.path else {
        throw PostgresError(code: .invalidArgument, message: "the Migrations folder is missing from \(bundle.bundlePath)")
      }
      return try Migration.load(directory: directory)
    } catch {
      fatalError("the \(schema) migrations shipped with the target cannot be read: \(error)")
    }
  }
}
