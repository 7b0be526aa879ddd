public import CommerceAPI
import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// The loop every outbox relay runs as background work: drain at start and whenever the
/// outbox's NOTIFY announces new events (between notifications it waits and does not poll), and
/// after a failed drain again after a pause that doubles from `initialBackoff` to
/// `maximumBackoff`, until a drain succeeds.
///
/// Two drains start at least `minimumSpacing` apart. An event that finds the relay idle for
/// longer than that is sent at once; under a steady stream of events (a checkout writes several
/// to each outbox), those that arrive meanwhile wait for the spacing and go in one drain, so the
/// drain's own statements, transaction and calls are paid once for all of them rather than for
/// every two or three (docs/PERFORMANCE.md, "What the relays cost a checkout").
///
/// What a drain sends is the relay's own (`drain`): stock levels to the catalog, rating
/// summaries, order events, notifications. Graceful shutdown ends it; events not sent stay in
/// the outbox for the next start.
public struct OutboxRelay: Service {
  let name: String
  let outbox: Outbox
  let pool: PostgresPool
  let logger: Logger
  let initialBackoff: Duration
  let maximumBackoff: Duration
  let minimumSpacing: Duration
  let drain: @Sendable () async throws -> Void

  /// - Parameters:
  ///   - name: what the relay sends, for its log lines ("stock levels to the catalog").
  ///   - drain: sends every unsent event of the relay's topics and marks them published.
  ///   - minimumSpacing: the least time between the starts of two drains.
  public init(
    _ name: String, outbox: Outbox, pool: PostgresPool, logger: Logger, initialBackoff: Duration = .milliseconds(100),
    maximumBackoff: Duration = .seconds(30), minimumSpacing: Duration = Self.defaultSpacing,
    drain: @escaping @Sendable () async throws -> Void
  ) {
    self.name = name
    self.outbox = outbox
    self.pool = pool
    self.logger = logger
    self.initialBackoff = initialBackoff
    self.maximumBackoff = maximumBackoff
    self.minimumSpacing = minimumSpacing
    self.drain = drain
  }

  /// The spacing relays use unless told otherwise: 50 ms, a delay no reader of a relay's effects
  /// (a notification, a stock level in search, an order's event) notices, and enough for a
  /// checkout's events to go out in a few drains a second per relay.
  public static let defaultSpacing = Duration.milliseconds(50)

  public func run() async throws {
    let wakeUps = try await pool.notifications(channel: outbox.channel)
    let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    // Vacuums of the queue run beside the drains, so a vacuum that waits for a page other
    // readers hold never delays the next drain.
    let (vacuums, vacuum) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await cancelWhenGracefulShutdown {
      await withDiscardingTaskGroup { group in
        group.addTask {
          for await _ in wakeUps { wake.yield() }
          wake.finish()
          vacuum.finish()
        }
        group.addTask {
          for await _ in vacuums { await vacuumQueueIfDue() }
        }
        group.addTask {
          var backoff = initialBackoff
          var pending = wakes.makeAsyncIterator()
          while !Task.isCancelled {
            let started = ContinuousClock.now
            switch await drainLogged() {
            case .done:
              backoff = initialBackoff
              vacuum.yield()
              guard await pending.next() != nil else { return }
              // Events that arrive during the wait join this drain (the wake-ups hold one).
              try? await Task.sleep(until: started + minimumSpacing, clock: .continuous)
            case .busy:
              // Another process drains the topic now; if it dies, its lock goes with it and
              // this relay takes over at its next try.
              try? await Task.sleep(for: initialBackoff)
            case .failed:
              try? await Task.sleep(for: backoff)
              backoff = min(backoff * 2, maximumBackoff)
            }
          }
        }
      }
    }
  }

  private enum DrainOutcome { case done, busy, failed }

  /// ``Outbox/vacuumQueueIfDue(pool:)``; a failure is logged and left to autovacuum.
  private func vacuumQueueIfDue() async {
    do {
      try await outbox.vacuumQueueIfDue(pool: pool)
    } catch {
      logger.warning("vacuum of the outbox queue failed", metadata: ["schema": "\(outbox.schema)", "error": "\(error)"])
    }
  }

  /// One drain: done; busy when another process's relay holds the topic
  /// (``Outbox/TopicBusy``); failed (logged), to be tried again after a pause.
  private func drainLogged() async -> DrainOutcome {
    do {
      try await drain()
      return .done
    } catch is CancellationError {
      return .done
    } catch where Task.isCancelled {
      // Graceful shutdown cancelled the call in flight; the events stay for the next start.
      return .done
    } catch is Outbox.TopicBusy {
      return .busy
    } catch {
      logger.warning("relay of \(name) failed; retrying", metadata: ["schema": "\(outbox.schema)", "error": "\(error)"])
      return .failed
    }
  }
}

extension OutboxRelay {
  /// Answers that mean OrderService will never accept an event.
  public static let finalOrderEventRejections: Set<RPCStatusCode> = [.failedPrecondition, .invalidArgument, .notFound]

  /// The relay of the ApplyOrderEventRequests a service appends under `topic` to
  /// OrderService.ApplyOrderEvent, one at a time in outbox order, so an order sees its events in
  /// the order they happened; later events wait while one is being retried. `eventID` gives each
  /// event its id (for example "payments:<outbox id>"), by which OrderService applies it at most
  /// once however often it is sent (after a crash between the call and the mark, or by several
  /// processes' relays). An event is marked published once accepted, or once finally refused
  /// (``finalOrderEventRejections``: the order cannot take it), which is logged. Events of other
  /// topics stay for their own relays.
  public static func applyingOrderEvents(
    from outbox: Outbox, topic: String, pool: PostgresPool, orders: CommerceV1.OrderService.Client, logger: Logger,
    eventID: @escaping @Sendable (Outbox.Event, CommerceV1.ApplyOrderEventRequest) -> String = { $1.eventId }
  ) -> OutboxRelay {
    OutboxRelay("\(topic) events to OrderService", outbox: outbox, pool: pool, logger: logger) {
      try await drainInOrder(of: topic, from: outbox, pool: pool) { event in
        var request = try CommerceV1.ApplyOrderEventRequest(serializedBytes: event.payload)
        request.eventId = eventID(event, request)
        do {
          _ = try await orders.applyOrderEvent(request)
        } catch let error as RPCError where finalOrderEventRejections.contains(error.code) {
          logger.warning(
            "OrderService refused an order event",
            metadata: [
              "topic": "\(topic)", "eventId": "\(request.eventId)", "orderId": "\(request.orderId)", "code": "\(error.code.name)",
            ])
        }
      }
    }
  }

  /// One drain of a relay that sends every event of `topic` on its own, in outbox order: `send`
  /// each unpublished event, then mark it published, until none is left. An error `send` throws
  /// stops the drain with that event and the ones after it unpublished (the relay retries them
  /// in order); a final refusal is for `send` to log and return. Returns how many events were
  /// published.
  ///
  /// Each batch is read, sent and marked under the outbox's lock on the topic
  /// (``Outbox/exclusively(topic:pool:_:)``), so the relays of several processes hosting the
  /// service send each event once between them, still in order; while another process holds
  /// it, the drain throws ``Outbox/TopicBusy``.
  @discardableResult
  public static func drainInOrder(
    of topic: String, from outbox: Outbox, pool: PostgresPool, batchSize: Int = 100,
    send: (Outbox.Event) async throws -> Void
  ) async throws -> Int {
    var total = 0
    while true {
      let (read, sent, failure) = try await outbox.exclusively(topic: topic, pool: pool) {
        held -> (Int, Int, (any Error)?) in
        let events = try await held.unpublished(limit: batchSize)
        var sent: [Int64] = []
        var failure: (any Error)?
        for event in events {
          do {
            try await send(event)
          } catch {
            failure = error
            break
          }
          sent.append(event.id)
        }
        // What went out is marked even when a later event failed, so only that one and those
        // after it are sent again.
        try await held.markPublished(sent)
        return (events.count, sent.count, failure)
      }
      total += sent
      if let failure { throw failure }
      if read < batchSize { return total }
    }
  }
}

extension OutboxRelay {
  /// One drain of a relay that sends the current state of what changed rather than each event:
  /// claims up to `batchSize` events of `topic` (``Outbox/claim(topic:limit:in:)``, so the
  /// relays of several processes share them), hands their distinct aggregate ids, sorted, to
  /// `send`, and marks the batch published in the same transaction, until a batch comes back
  /// short. A product changed five times is sent once, as it is now. Returns how many events
  /// were published.
  @discardableResult
  public static func drainLatest(
    of topic: String, from outbox: Outbox, pool: PostgresPool, batchSize: Int = 500,
    send: @Sendable ([String]) async throws -> Void
  ) async throws -> Int {
    var total = 0
    while true {
      let count = try await pool.withTransaction { tx in
        let events = try await outbox.claim(topic: topic, limit: batchSize, in: tx)
        let aggregates = Array(Set(events.map(\.aggregateID))).sorted()
        if !aggregates.isEmpty { try await send(aggregates) }
        try await outbox.markPublished(events.map(\.id), in: tx)
        return events.count
      }
      total += count
      if count < batchSize { return total }
    }
  }
}
