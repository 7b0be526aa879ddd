import ArgumentParser
import EmporiumSeed
import Foundation
import Logging
import Postgres

/// `emporium seed`: a realistic, deterministic load-test data set, loaded with COPY.
struct Seed: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Load a deterministic data set (categories, sellers, products, users of every role, stock) and write its manifest.",
    discussion: """
      Migrates every service's schema, then loads through each service's bulk-load API: accounts \
      (known passwords, for load tests: seed-<role>-<seed>), a category tree, sellers, and products \
      whose titles and descriptions come from word lists, with long-tail prices, followed by the \
      search index; then warehouses and the stock of every product in each. The catalog learns \
      the stock levels from the inventory's outbox when `emporium serve` starts. The same --seed \
      gives the same ids, rows and manifest. The database must not hold a catalog or inventory \
      yet. Without --database-url (or EMPORIUM_DATABASE_URL), an embedded cluster is started: \
      use --data-dir to keep what was loaded. Progress goes to standard error.
      """
  )

  @Option(help: "Products to load.")
  var products = 1000

  @Option(help: "Accounts besides the sellers: customers, plus admins (1 per 500) and delivery partners (1 per 50).")
  var users = 100

  @Option(help: "Seller accounts (each with a catalog profile).")
  var sellers = 10

  @Option(help: "Warehouses, each holding stock of every product (0: no stock).")
  var warehouses = 3

  @Option(help: "The seed: the same seed gives the same data.")
  var seed: UInt64 = 1

  @Option(help: "Where to write the manifest (JSON) the load generator reads.")
  var manifest = "seed-manifest.json"

  @Option(help: "PostgreSQL URL (default: $EMPORIUM_DATABASE_URL, else an embedded cluster).")
  var databaseURL: String?

  @Option(help: "Keep the embedded cluster's data in this directory.")
  var dataDir: String?

  func validate() throws {
    guard products >= 0, users >= 0, sellers >= 0 else { throw ValidationError("counts cannot be negative") }
    guard (0...99).contains(warehouses) else { throw ValidationError("--warehouses must be 0 to 99") }
    guard products == 0 || sellers > 0 else { throw ValidationError("products need at least one seller (--sellers)") }
  }

  mutating func run() async throws {
    LogLevel(.warning).bootstrapLogging()
    let logger = Logger(label: "emporium")
    let started = ContinuousClock.now
    let display = SeedProgressDisplay(isTerminal: isatty(STDERR_FILENO) == 1, started: started)
    let database = try await ServerDatabase.open(
      url: databaseURL ?? ProcessInfo.processInfo.environment["EMPORIUM_DATABASE_URL"], dataDirectory: dataDir,
      logger: logger)
    let pool = try PostgresPool(configuration: .init(url: database.url, maximumConnections: 4))
    let generator = SeedGenerator(
      SeedConfiguration(products: products, users: users, sellers: sellers, seed: seed, warehouses: warehouses))
    do {
      let manifest = try await Seeder.run(generator, pool: pool, logger: logger) { display.show($0) }
      try manifest.json().write(to: URL(fileURLWithPath: self.manifest))
      display.finish(
        "seeded \(manifest.counts.products) products, \(manifest.counts.categories) categories, "
          + "\(manifest.counts.sellers) sellers, \(manifest.counts.users) accounts, "
          + "\(manifest.stock?.units ?? 0) units in \(manifest.warehouses?.count ?? 0) warehouses (seed \(seed)) in "
          + SeedProgressDisplay.seconds(started.duration(to: .now)) + "; manifest: \(self.manifest)")
    } catch {
      display.finish(nil)
      await pool.close()
      try? await database.close()
      throw error
    }
    await pool.close()
    try await database.close()
  }
}
