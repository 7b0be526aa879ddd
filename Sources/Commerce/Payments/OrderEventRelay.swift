import CommerceAPI
import CommerceKit
import Foundation
import Logging
import Messages
import Postgres
import RPC
import ServiceLifecycle

/// Forwards asynchronous authorization results to OrderService.ApplyOrderEvent
/// (PAYMENT_AUTHORIZED, PAYMENT_FAILED): the "payment.order_event" events of the payments
/// outbox, in outbox order, each with event_id "payments:<outbox id>", so OrderService applies each at
/// most once however often it is sent. Runs at start, whenever the outbox's NOTIFY announces new
/// events, and after a failure again with backoff (doubling from ``initialBackoff`` to
/// ``maximumBackoff``) until OrderService accepts the event: an event is marked published only
/// once it was accepted, or finally rejected (FAILED_PRECONDITION, INVALID_ARGUMENT,
/// NOT_FOUND: the order cannot take it, which is logged). Events of other topics stay for their
/// own relays.
struct OrderEventRelay: Service {
  let store: PaymentStore
  let orders: CommerceV1.OrderService.Client
  let logger: Logger
  var initialBackoff: Duration = .milliseconds(100)
  var maximumBackoff: Duration = .seconds(30)

  static let batchSize = 100

  /// Answers that mean OrderService will never accept the event.
  static let finalRejections: Set<RPCStatusCode> = [.failedPrecondition, .invalidArgument, .notFound]

  func run() async throws {
    let notifications = try await store.pool.notifications(channel: store.outbox.channel)
    let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await cancelWhenGracefulShutdown {
      await withDiscardingTaskGroup { group in
        group.addTask {
          for await _ in notifications { wake.yield() }
          wake.finish()
        }
        group.addTask {
          var backoff = initialBackoff
          var pending = wakes.makeAsyncIterator()
          while !Task.isCancelled {
            if await drainLogged() {
              backoff = initialBackoff
              guard await pending.next() != nil else { return }
            } else {
              try? await Task.sleep(for: backoff)
              backoff = min(backoff * 2, maximumBackoff)
            }
          }
        }
      }
    }
  }

  /// One drain; false when it failed (and is to be tried again after a pause).
  private func drainLogged() async -> Bool {
    do {
      try await drain()
      return true
    } catch is CancellationError {
      return true
    } catch {
      logger.warning("payment event relay to OrderService failed; retrying", metadata: ["error": "\(error)"])
      return false
    }
  }

  /// Sends every unsent order event, oldest first; returns how many it published.
  @discardableResult
  func drain() async throws -> Int {
    var total = 0
    while true {
      let events = try await store.outbox.unpublished(topic: PaymentStore.orderEventTopic, limit: Self.batchSize, pool: store.pool)
      for event in events {
        var request = try CommerceV1.ApplyOrderEventRequest(serializedBytes: event.payload)
        request.eventId = "payments:\(event.id)"
        do {
          _ = try await orders.applyOrderEvent(request)
        } catch let error as RPCError where Self.finalRejections.contains(error.code) {
          logger.warning(
            "OrderService refused a payment event",
            metadata: ["eventId": "\(event.id)", "orderId": "\(request.orderId)", "code": "\(error.code.name)"])
        }
        try await store.outbox.markPublished([event.id], pool: store.pool)
        total += 1
      }
      if events.count < Self.batchSize { return total }
    }
  }
}
