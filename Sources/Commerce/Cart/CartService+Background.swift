import CommerceKit
import Foundation
import Logging
import ServiceLifecycle

/// Deletes guest carts left unchanged for 30 days (merged ones 30 days after the merge) and
/// idempotency keys finished more than 48 hours ago, once at start and then every
/// ``CartService/Configuration/sweepInterval``. A failed sweep is logged and tried again at the
/// next interval; graceful shutdown ends the wait.
struct CartSweeper: Service {
  let service: CartService

  /// Guest carts deleted per statement, so one sweep never holds many locks at once.
  static let batchSize = 1000

  func run() async throws {
    try await PeriodicWork("cart sweep", every: service.configuration.sweepInterval, logger: service.logger) {
      let deleted = try await sweep()
      if deleted > 0 { service.logger.info("expired guest carts deleted", metadata: ["count": "\(deleted)"]) }
    }.run()
  }

  /// One sweep; returns how many guest carts it deleted.
  func sweep() async throws -> Int {
    let cutoff = service.now().addingTimeInterval(-CartRules.guestCartLifetime)
    var total = 0
    while true {
      let deleted = try await service.store.deleteGuestCarts(unchangedSince: cutoff, limit: Self.batchSize)
      total += deleted
      if deleted < Self.batchSize { break }
    }
    try await service.idempotency.purge()
    return total
  }
}
