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

  static let batchSize = 500

  func run() async throws {
    try await OutboxRelay("rating summaries to the catalog", outbox: service.store.outbox, pool: service.store.pool, logger: service.logger) {
      try await drain()
    }.run()
  }

  /// Sends every unpublished summary change; returns how many events it published.
  @discardableResult
  func drain() async throws -> Int {
    var total = 0
    while true {
      let count = try await service.store.pool.withTransaction { tx in
        let events = try await service.store.outbox.claim(topic: ReviewStore.summaryChangedTopic, limit: Self.batchSize, in: tx)
        let products = Array(Set(events.map(\.aggregateID))).sorted()
        let counts = try await service.store.counts(products: products)
        let summaries = products.compactMap { product in
          counts[product].map { counts in
            CommerceV1.VersionedRatingSummary.with {
              $0.summary = counts.summary(productID: product)
              $0.version = counts.version
            }
          }
        }
        if !summaries.isEmpty {
          _ = try await service.catalog.recordRatingSummaries(.with { $0.summaries = summaries })
        }
        try await service.store.outbox.markPublished(events.map(\.id), in: tx)
        return events.count
      }
      total += count
      if count < Self.batchSize { return total }
    }
  }
}
