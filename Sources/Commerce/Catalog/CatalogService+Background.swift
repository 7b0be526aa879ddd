import CommerceKit
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// Listens on the catalog's NOTIFY channel and evicts announced products from the product cache,
/// and every search result from the search cache; a stock level announced without an in-stock
/// flip ("stock:<id>:<available>") patches the cached page instead. The caches store nothing until the
/// subscription is confirmed, and empty when it ends.
struct CacheInvalidationListener: Service {
  let service: CatalogService

  func run() async throws {
    let notifications = try await service.store.pool.notifications(channel: CatalogStore.invalidationChannel)
    service.cache.setListening(true)
    service.searchCache.setListening(true)
    defer {
      service.cache.setListening(false)
      service.searchCache.setListening(false)
    }
    for await notification in notifications.cancelOnGracefulShutdown() {
      let apply = {
        if let level = CatalogStore.parseStockPayload(notification.payload) {
          service.apply(.init(product: level.product, available: level.available, flipped: false))
        } else {
          service.forget(notification.payload == "*" ? nil : UUID(id: notification.payload).map { [$0] } ?? [])
        }
      }
      if let replica = service.replica {
        // A change committed on the primary (perhaps by another process): what a lagging
        // replica returns is not cached until it has replayed that far.
        try? await replica.write(by: nil) { apply() }
      } else {
        apply()
      }
      service.lastAnnouncementHandled.payload.withLock { $0 = notification.payload }
    }
  }
}

/// The payload of the last announcement the listener applied (``CatalogService/lastAnnouncement``).
final class AnnouncementMark: Sendable {
  let payload = Mutex<String?>(nil)
}

/// The reindex jobs this process started, waiting for the worker.
final class ReindexQueue: Sendable {
  let jobs: AsyncStream<String>
  private let continuation: AsyncStream<String>.Continuation

  init() {
    (jobs, continuation) = AsyncStream.makeStream(of: String.self)
  }

  func submit(_ id: String) { continuation.yield(id) }
}

/// Runs reindex jobs one at a time. A job interrupted by shutdown stays RUNNING until its lease
/// lapses; the next StartSearchReindex then marks it FAILED.
struct ReindexWorker: Service {
  let service: CatalogService

  func run() async throws {
    for await id in service.reindexQueue.jobs.cancelOnGracefulShutdown() {
      do {
        let reindex = {
          try await service.store.runReindex(
            id, batchSize: service.configuration.reindexBatchSize, lease: service.configuration.reindexLease)
          service.forget(nil)
        }
        if let replica = service.replica { try await replica.write(by: nil, reindex) } else { try await reindex() }
        service.logger.info("search reindex finished", metadata: ["job_id": "\(id)"])
      } catch {
        service.logger.error("search reindex failed", metadata: ["job_id": "\(id)", "error": "\(error)"])
      }
    }
  }
}
