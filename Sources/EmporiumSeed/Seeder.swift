import CommerceAuth
import CommerceCatalog
import CommerceInventory
import EmporiumApp
public import Foundation
public import Logging
public import Postgres

/// Loads a ``SeedGenerator``'s data set into a database: migrates every service's schema, then
/// hands each service its part through the service's own bulk-load API (the seed writes no SQL
/// of its own): accounts to AuthService, categories, sellers and products to CatalogService,
/// warehouses and stock to InventoryService. The catalog learns the stock levels from the
/// inventory's outbox, which the load fills (one event per product): the inventory's relay sends
/// them when the services start (see `InventoryService.bulkLoad`).
public enum Seeder {
  /// What the load is doing, for a progress display.
  public enum Progress: Sendable, Hashable {
    case migrating
    /// Accounts copied of the total.
    case accounts(done: Int, total: Int)
    /// Products copied of the total.
    case products(done: Int, total: Int)
    /// Search documents built of the total.
    case searchIndex(done: Int, total: Int)
    /// The search index is being swapped in.
    case finishing
    /// Stock rows (one per product and warehouse) copied of the total.
    case stock(done: Int, total: Int)
    case finished
  }

  /// Migrates and loads `generator`'s data set into the empty database behind `pool`, and
  /// returns its manifest.
  ///
  /// - Throws: `CatalogService.BulkLoadError` when the catalog is not empty,
  ///   `InventoryService.BulkLoadError` when the inventory is not empty, a
  ///   `CommerceError` when an account's email is taken, or what the database reports.
  public static func run(
    _ generator: SeedGenerator, pool: PostgresPool, logger: Logger, progress: @escaping @Sendable (Progress) -> Void = { _ in }
  ) async throws -> SeedManifest {
    let configuration = generator.configuration
    progress(.migrating)
    try await EmporiumApp.migrate(ServiceCatalog.all, pool: pool, logger: logger)

    let accounts = generator.accounts
    progress(.accounts(done: 0, total: accounts.count))
    try await AuthService.bulkLoadAccounts(accounts, pool: pool) { progress(.accounts(done: $0, total: accounts.count)) }

    let total = configuration.products
    progress(.products(done: 0, total: total))
    try await CatalogService.bulkLoad(
      categories: generator.categories, sellers: generator.sellers, products: generator.products, pool: pool
    ) { step in
      switch step {
      case .productsCopied(let done): progress(.products(done: done, total: total))
      case .documentsBuilt(let done): progress(.searchIndex(done: done, total: total))
      case .swappingIn: progress(.finishing)
      }
    }

    let rows = total * generator.warehouses.count
    progress(.stock(done: 0, total: rows))
    try await InventoryService.bulkLoad(
      warehouses: generator.warehouses, stock: generator.stock, pool: pool, at: generator.epoch, actor: "service:seed"
    ) { step in
      if case .stockCopied(let done) = step { progress(.stock(done: done, total: rows)) }
    }

    progress(.finished)
    return SeedManifest(generator)
  }
}
