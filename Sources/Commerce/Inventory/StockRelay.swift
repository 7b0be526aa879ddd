import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Logging
import Postgres
import ServiceLifecycle

/// Sends stock levels to the catalog (RecordStockLevels): drains the outbox as every
/// ``OutboxRelay`` does (at start, on its NOTIFY, again with backoff after a failure). A drain claims up to 500 unpublished events, sends
/// the current level of each product they name (so a drain that runs after several changes sends
/// each product once, as it is now), and marks them published; the catalog ignores levels not
/// newer than the ones it has, so a resend (another process, a crash between the call and the
/// mark) is harmless.
struct StockRelay: Service {
  let service: InventoryService

  func run() async throws {
    try await OutboxRelay("stock levels to the catalog", outbox: service.store.outbox, pool: service.store.pool, logger: service.logger) {
      try await drain()
    }.run()
  }

  /// Sends every unpublished stock change (``OutboxRelay/drainLatest(of:from:pool:batchSize:send:)``);
  /// returns how many events it published.
  @discardableResult
  func drain() async throws -> Int {
    try await OutboxRelay.drainLatest(of: InventoryStore.stockChangedTopic, from: service.store.outbox, pool: service.store.pool) {
      products in
      let levels = try await service.store.stockLevels(products: products)
      if !levels.isEmpty { _ = try await service.catalog.recordStockLevels(.with { $0.levels = levels }) }
    }
  }
}
