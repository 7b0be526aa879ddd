import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Logging
import Postgres
import ServiceLifecycle

/// Sends stock levels to the catalog (RecordStockLevels): drains the outbox at start and
/// whenever its NOTIFY announces new events. A drain claims up to 500 unpublished events, sends
/// the current level of each product they name (so a drain that runs after several changes sends
/// each product once, as it is now), and marks them published; the catalog ignores levels not
/// newer than the ones it has, so a resend (another process, a crash between the call and the
/// mark) is harmless. A failed drain is logged; its events stay for the next notification.
struct StockRelay: Service {
  let service: InventoryService

  static let batchSize = 500

  func run() async throws {
    let notifications = try await service.store.pool.notifications(channel: service.store.outbox.channel)
    await drainLogged()
    for await _ in notifications.cancelOnGracefulShutdown() {
      await drainLogged()
    }
  }

  private func drainLogged() async {
    do {
      try await drain()
    } catch {
      service.logger.warning("stock level relay failed", metadata: ["error": "\(error)"])
    }
  }

  /// Sends every unpublished stock change; returns how many events it published. Each batch is
  /// claimed, sent and marked in one transaction (``Outbox/claim(limit:in:)``), so the relays of
  /// several processes share the events rather than each sending all of them.
  @discardableResult
  func drain() async throws -> Int {
    var total = 0
    while true {
      let count = try await service.store.pool.withTransaction { tx in
        let events = try await service.store.outbox.claim(limit: Self.batchSize, in: tx)
        let products = Array(Set(events.filter { $0.topic == InventoryStore.stockChangedTopic }.map(\.aggregateID)))
        let levels = try await service.store.stockLevels(products: products)
        if !levels.isEmpty {
          _ = try await service.catalog.recordStockLevels(.with { $0.levels = levels })
        }
        try await service.store.outbox.markPublished(events.map(\.id), in: tx)
        return events.count
      }
      total += count
      if count < Self.batchSize { return total }
    }
  }
}
