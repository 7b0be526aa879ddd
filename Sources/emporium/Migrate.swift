import ArgumentParser
import Foundation
import Logging
import Postgres

/// `emporium migrate`: applies each service schema's migrations.
struct Migrate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Apply database migrations, one schema per subdirectory of the migrations directory.",
    discussion: """
      Each subdirectory of --migrations is a schema (service) and holds files named \
      NNNN_name.sql, applied in order, each in its own transaction, under an advisory lock so \
      that instances started together do not race. Applied versions are recorded in \
      <schema>.schema_migrations; a changed file that was already applied is an error.
      """
  )

  @Option(help: "PostgreSQL URL (default: $EMPORIUM_DATABASE_URL, else an embedded cluster).")
  var databaseURL: String?

  @Option(help: "Keep the embedded cluster's data in this directory.")
  var dataDir: String?

  @Option(help: "The migrations directory (one subdirectory per schema).")
  var migrations = "migrations"

  mutating func run() async throws {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    let logger = Logger(label: "emporium")
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: migrations, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ValidationError("no migrations directory at '\(migrations)'")
    }
    let schemas = try FileManager.default.contentsOfDirectory(atPath: migrations).filter { name in
      var isSchema: ObjCBool = false
      return FileManager.default.fileExists(atPath: "\(migrations)/\(name)", isDirectory: &isSchema) && isSchema.boolValue
    }.sorted()
    let database = try await ServerDatabase.open(
      url: databaseURL ?? ProcessInfo.processInfo.environment["EMPORIUM_DATABASE_URL"], dataDirectory: dataDir,
      logger: logger)
    let pool = try PostgresPool(configuration: .init(url: database.url, maximumConnections: 2))
    do {
      for schema in schemas {
        let report = try await Migrator(pool: pool, schema: schema).migrate(directory: "\(migrations)/\(schema)")
        let applied = report.applied.map(\.label)
        print("\(schema): \(applied.isEmpty ? "up to date" : "applied " + applied.joined(separator: ", "))")
      }
      if schemas.isEmpty { print("no schemas under \(migrations)") }
    } catch {
      await pool.close()
      try? await database.close()
      throw error
    }
    await pool.close()
    try await database.close()
  }
}
