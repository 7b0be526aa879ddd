import CommerceKit
import Foundation
import Logging
import ServiceLifecycle

/// Expires ACTIVE reservations past their expire_time (their units become available again),
/// once at start and then every ``InventoryService/Configuration/expirySweepInterval``, and
/// deletes idempotency keys finished more than 48 hours ago. Each reservation expires in its own
/// transaction, locked as CommitReservation locks it, so the sweeper and the handlers never
/// expire one twice. A failed sweep is logged and tried again at the next interval; graceful
/// shutdown ends the wait.
struct ExpirySweeper: Service {
  let service: InventoryService

  /// Reservations read per batch.
  static let batchSize = 500

  func run() async throws {
    guard let interval = service.configuration.expirySweepInterval else { return }
    try await PeriodicWork("reservation expiry sweep", every: interval, logger: service.logger) {
      let expired = try await sweep()
      if expired > 0 { service.logger.info("reservations expired", metadata: ["count": "\(expired)"]) }
    }.run()
  }

  /// One sweep; returns how many reservations it expired.
  func sweep() async throws -> Int {
    var total = 0
    while true {
      let due = try await service.store.dueReservations(now: service.now(), limit: Self.batchSize)
      var expired = 0
      for id in due where try await service.expireIfDue(id) { expired += 1 }
      total += expired
      // A full batch none of which expired (all finished meanwhile) ends the sweep too.
      if due.count < Self.batchSize || expired == 0 { break }
    }
    try await service.idempotency.purge()
    return total
  }
}
