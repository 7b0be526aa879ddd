import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Logging
import Postgres
import ServiceLifecycle

/// Sends rating summaries to the catalog (RecordRatingSummaries), so that search's rating
/// filter, sort and facets and product pages follow reviews: drains the outbox as every
/// ``OutboxRelay`` does (at start, on its NOTIFY, again with backoff after a failure). A drain claims up to 500 unpublished events, sends
/// the current summary of each product they name (each product once, as it is now), and marks
/// them published; the catalog ignores summaries not newer than the ones it has, so a resend
/// (another process, a crash between the call and the mark) is harmless.
struct SummaryRelay: Service {
  let service: ReviewService

  func run() async throws {
    try await OutboxRelay("rating summaries to the catalog", outbox: service.store.outbox, pool: service.store.pool, logger: service.logger) {
      try await drain()
    }.run()
  }

  /// Sends every unpublished summary change (``OutboxRelay/drainLatest(of:from:pool:batchSize:send:)``);
  /// returns how many events it published.
  @discardableResult
  func drain() async throws -> Int {
    try await OutboxRelay.drainLatest(of: ReviewStore.summaryChangedTopic, from: service.store.outbox, pool: service.store.pool) {
      products in
      let counts = try await service.store.counts(products: products)
      let summaries = products.compactMap { product in
        counts[product].map { counts in
          CommerceV1.VersionedRatingSummary.with {
            $0.summary = counts.summary(productID: product)
            $0.version = counts.version
          }
        }
      }
      if !summaries.isEmpty { _ = try await service.catalog.recordRatingSummaries(.with { $0.summaries = summaries }) }
    }
  }
}
