import CommerceKit
import Foundation
import Logging
import ServiceLifecycle

/// Resumes or compensates every unfinished checkout saga nobody runs, once at start and then
/// every ``OrderService/Configuration/recoveryInterval``: PENDING and AWAITING_PAYMENT orders
/// whose owner's lease lapsed (its server stopped, or a step was interrupted), and sagas waiting
/// for an asynchronous payment result (PaymentService is asked about the payment; the
/// reservation is extended; past 30 minutes the saga gives up and compensates). Each saga is
/// claimed atomically first, so two servers never run the same one. A failed round is logged and
/// tried again at the next interval; graceful shutdown ends the wait.
struct SagaRecovery: Service {
  let service: OrderService

  static let batchSize = 100

  func run() async throws {
    try await PeriodicWork("checkout saga recovery", every: service.configuration.recoveryInterval, logger: service.logger) {
      let resumed = try await round()
      if resumed > 0 { service.logger.debug("checkout sagas resumed", metadata: ["count": "\(resumed)"]) }
    }.run()
  }

  /// One round; returns how many sagas it took.
  func round() async throws -> Int {
    let due = try await service.store.unownedSagas(now: service.now(), limit: Self.batchSize)
    var resumed = 0
    for id in due where try await service.resume(id) { resumed += 1 }
    return resumed
  }
}
