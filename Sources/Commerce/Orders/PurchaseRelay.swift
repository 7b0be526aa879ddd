import CommerceAPI
import CommerceKit
import Foundation
import Logging
import Messages
import Postgres
import RPC
import ServiceLifecycle

/// Sends every order that reached CONFIRMED to the catalog (RecordPurchases), for its
/// recommendations: drains the outbox topic ``OrderStore/purchasedTopic`` as every
/// ``OutboxRelay`` does (at start, on its NOTIFY, again with backoff after a failure), one event
/// at a time in outbox order, outside any transaction (a peer is never called inside one), and
/// marks each published once sent. The catalog records an order once however often it is sent,
/// so a resend (after a crash between the call and the mark, or by another process's relay) is
/// harmless; an order it refuses as invalid is logged and not sent again.
struct PurchaseRelay: Service {
  let service: OrderService

  func run() async throws {
    try await OutboxRelay("purchases to the catalog", outbox: service.store.outbox, pool: service.store.pool, logger: service.logger) {
      try await drain()
    }.run()
  }

  /// Sends every unsent purchase (``OutboxRelay/drainInOrder(of:from:pool:batchSize:send:)``);
  /// returns how many it published.
  @discardableResult
  func drain() async throws -> Int {
    try await OutboxRelay.drainInOrder(of: OrderStore.purchasedTopic, from: service.store.outbox, pool: service.store.pool) { event in
      let request = try CommerceV1.RecordPurchasesRequest(serializedBytes: event.payload)
      do {
        _ = try await service.catalog.recordPurchases(request)
      } catch let error as RPCError where error.code == .invalidArgument {
        service.logger.warning("the catalog refused a purchase", metadata: ["orderId": "\(request.orderId)", "error": "\(error.message)"])
      }
    }
  }
}
