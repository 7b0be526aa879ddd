import CommerceAPI
import CommerceKit
import Foundation
import Logging
import Messages
import Postgres
import RPC
import ServiceLifecycle

/// Sends shipment events to OrderService.ApplyOrderEvent (SHIPMENT_CREATED, SHIPMENT_SHIPPED,
/// SHIPMENT_DELIVERED, SHIPMENT_CANCELLED): the "shipment.order_event" events of the shipping
/// outbox, in outbox order, each with the event id the store gave it ("shipping:<shipment
/// id>:<kind>"), so OrderService applies each at most once however often it is sent — after a
/// crash between the call and the mark, or by the relays of several processes. Runs at start,
/// whenever the outbox's NOTIFY announces new events, and after a failure again with backoff
/// (doubling from ``initialBackoff`` to ``maximumBackoff``) until OrderService accepts the
/// event; later events wait, so an order sees a shipment's events in the order they happened.
/// An event is marked published once accepted, or finally refused (FAILED_PRECONDITION,
/// INVALID_ARGUMENT, NOT_FOUND: the order cannot take it, for example a cancelled order), which
/// is logged. Events of other topics stay for their own relays.
struct OrderEventRelay: Service {
  let store: ShippingStore
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
    } catch where Task.isCancelled {
      // Graceful shutdown cancelled the call in flight; the event stays for the next start.
      return true
    } catch {
      logger.warning("shipment event relay to OrderService failed; retrying", metadata: ["error": "\(error)"])
      return false
    }
  }

  /// Sends every unsent order event, oldest first; returns how many it published.
  @discardableResult
  func drain() async throws -> Int {
    var total = 0
    while true {
      let events = try await store.outbox.unpublished(topic: ShippingStore.orderEventTopic, limit: Self.batchSize, pool: store.pool)
      for event in events {
        let request = try CommerceV1.ApplyOrderEventRequest(serializedBytes: event.payload)
        do {
          _ = try await orders.applyOrderEvent(request)
        } catch let error as RPCError where Self.finalRejections.contains(error.code) {
          logger.warning(
            "OrderService refused a shipment event",
            metadata: ["eventId": "\(request.eventId)", "orderId": "\(request.orderId)", "code": "\(error.code.name)"])
        }
        try await store.outbox.markPublished([event.id], pool: store.pool)
        total += 1
      }
      if events.count < Self.batchSize { return total }
    }
  }
}
