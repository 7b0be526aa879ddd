import Foundation
import Postgres
import Testing

@Suite("Migrator")
struct MigratorTests {
  static let database = DatabaseOnce("postgres_migrator_tests")

  func makePool() async throws -> PostgresPool {
    try PostgresPool(configuration: .init(url: try await Self.database.url(), maximumConnections: 2))
  }

  static let migrations = [
    Migration(version: 1, name: "create_products", sql: "CREATE TABLE products (id int8 PRIMARY KEY, name text NOT NULL);"),
    Migration(
      version: 2, name: "slow_change",
      sql: "SELECT pg_sleep(0.3); ALTER TABLE products ADD COLUMN price_minor int8 NOT NULL DEFAULT 0;"),
    Migration(
      version: 3, name: "log_run",
      sql: "CREATE TABLE IF NOT EXISTS runs (at timestamptz NOT NULL DEFAULT now()); INSERT INTO runs DEFAULT VALUES;"),
  ]

  @Test("two migrators racing apply each migration exactly once")
  func concurrentMigrators() async throws {
    // Two pools: two instances of a service starting at the same moment.
    let first = try await self.makePool()
    let second = try await self.makePool()
    async let a = Migrator(pool: first, schema: "race").migrate(Self.migrations)
    async let b = Migrator(pool: second, schema: "race").migrate(Self.migrations.reversed())
    let (reportA, reportB) = try await (a, b)

    let applied = (reportA.applied + reportB.applied).map(\.version).sorted()
    #expect(applied == [1, 2, 3])
    #expect(Set(reportA.applied.map(\.version)).isDisjoint(with: reportB.applied.map(\.version)))
    #expect(reportA.applied.count + reportA.alreadyApplied.count == 3)
    #expect(reportB.applied.count + reportB.alreadyApplied.count == 3)
    #expect(try await first.query("SELECT count(*) FROM race.runs").scalar(as: Int64.self) == 1)
    let recorded = try await first.query("SELECT version, name FROM race.schema_migrations ORDER BY version")
    #expect(try recorded.map { try $0.decode(0, as: Int32.self) } == [1, 2, 3])
    #expect(try recorded.map { try $0.decode(1, as: String.self) } == ["create_products", "slow_change", "log_run"])
    // The search_path pointed at the schema: the table is race.products, not public.products.
    #expect(try await first.query("SELECT to_regclass('public.products') IS NULL").scalar(as: Bool.self) == true)

    // Running again applies nothing.
    let again = try await Migrator(pool: first, schema: "race").migrate(Self.migrations)
    #expect(again.applied.isEmpty)
    #expect(again.alreadyApplied == [1, 2, 3])
    await first.close()
    await second.close()
  }

  @Test("an applied migration whose SQL changed is an error")
  func checksumMismatch() async throws {
    let pool = try await self.makePool()
    let migrator = Migrator(pool: pool, schema: "checksums")
    _ = try await migrator.migrate(Array(Self.migrations.prefix(1)))
    var edited = Self.migrations
    edited[0].sql += "\n-- edited"
    let error = await #expect(throws: PostgresError.self) { try await migrator.migrate(edited) }
    #expect(error?.code == .checksumMismatch)
    #expect(error?.message.contains("0001_create_products") == true)
    // Nothing after it ran.
    #expect(try await pool.query("SELECT count(*) FROM checksums.schema_migrations").scalar(as: Int64.self) == 1)
    await pool.close()
  }

  @Test("a failing migration rolls back alone, is named in the error, and keeps the SQLSTATE")
  func failingMigration() async throws {
    let pool = try await self.makePool()
    let migrator = Migrator(pool: pool, schema: "failing")
    let broken = Self.migrations.prefix(1) + [
      Migration(version: 2, name: "broken", sql: "CREATE TABLE half (id int); SELECT * FROM missing_table;")
    ]
    let error = await #expect(throws: PostgresError.self) { try await migrator.migrate(Array(broken)) }
    #expect(error?.code == .migrationFailed)
    #expect(error?.sqlState == "42P01")
    #expect(error.map { "\($0)" }?.contains("0002_broken") == true)
    #expect(try await pool.query("SELECT count(*) FROM failing.schema_migrations").scalar(as: Int64.self) == 1)
    #expect(try await pool.query("SELECT to_regclass('failing.half') IS NULL").scalar(as: Bool.self) == true)
    // The advisory lock was released: another run proceeds.
    let fixed = try await migrator.migrate(Array(Self.migrations.prefix(1)))
    #expect(fixed.alreadyApplied == [1])
    await pool.close()
  }

  @Test("migrations load from NNNN_name.sql files in version order")
  func loadsDirectory() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try "CREATE TABLE b (id int);".write(to: directory.appendingPathComponent("0010_second.sql"), atomically: true, encoding: .utf8)
    try "CREATE TABLE a (id int);".write(to: directory.appendingPathComponent("0002_first_one.sql"), atomically: true, encoding: .utf8)
    try "notes".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)

    let loaded = try Migration.load(directory: directory.path)
    #expect(loaded.map(\.version) == [2, 10])
    #expect(loaded.map(\.name) == ["first_one", "second"])
    #expect(loaded.map(\.label) == ["0002_first_one", "0010_second"])

    let pool = try await self.makePool()
    let report = try await Migrator(pool: pool, schema: "from_files").migrate(directory: directory.path)
    #expect(report.applied.map(\.version) == [2, 10])
    await pool.close()

    try "oops".write(to: directory.appendingPathComponent("third.sql"), atomically: true, encoding: .utf8)
    #expect(throws: PostgresError.self) { try Migration.load(directory: directory.path) }
    try FileManager.default.removeItem(at: directory.appendingPathComponent("third.sql"))
    try "dup".write(to: directory.appendingPathComponent("10_again.sql"), atomically: true, encoding: .utf8)
    #expect(throws: PostgresError.self) { try Migration.load(directory: directory.path) }
  }
}
