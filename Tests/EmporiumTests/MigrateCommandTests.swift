import Foundation
import Postgres
import PostgresEmbedded
import Testing

/// `emporium migrate` as an operator runs it.
@Suite("emporium migrate")
struct MigrateCommandTests {
  private func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await Process.runToEnd(ServeCommandTests.executable, arguments)
  }

  @Test("applies each schema's migrations once; a second run has nothing to do")
  func appliesOnce() async throws {
    let database = try await TestCluster.createDatabase("migrate_command")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    for (schema, files) in [
      ("catalog", ["0001_products.sql": "CREATE TABLE products (id text PRIMARY KEY, title text NOT NULL);",
                   "0002_price.sql": "ALTER TABLE products ADD COLUMN price_minor bigint NOT NULL DEFAULT 0;"]),
      ("orders", ["0001_orders.sql": "CREATE TABLE orders (id text PRIMARY KEY);"]),
    ] {
      let schemaDirectory = directory.appendingPathComponent(schema)
      try FileManager.default.createDirectory(at: schemaDirectory, withIntermediateDirectories: true)
      for (name, sql) in files { try sql.write(to: schemaDirectory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
    }
    let first = try await run(["migrate", "--database-url", database, "--migrations", directory.path])
    #expect(first.status == 0)
    #expect(first.output.contains("catalog: applied 0001_products, 0002_price"))
    #expect(first.output.contains("orders: applied 0001_orders"))
    let second = try await run(["migrate", "--database-url", database, "--migrations", directory.path])
    #expect(second.status == 0)
    #expect(second.output == "catalog: up to date\norders: up to date\n")

    let pool = try PostgresPool(configuration: .init(url: database, maximumConnections: 1))
    let columns = try await pool.query(
      "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'catalog' AND table_name = 'products'")
    #expect(try columns.scalar(as: Int64.self) == 3)
    await pool.close()
  }

  @Test("a missing migrations directory is a clear error")
  func missingDirectory() async throws {
    let result = try await run(["migrate", "--database-url", "postgresql://unused@127.0.0.1:1/x", "--migrations", "/nonexistent/dir"])
    #expect(result.status != 0)
  }
}
