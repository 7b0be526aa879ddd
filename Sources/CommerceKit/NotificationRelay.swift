public import CommerceAPI
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

extension Outbox {
  /// The topic of the events addressed to a user, which ``NotificationRelay`` delivers to
  /// NotificationService.
  public static let notificationTopic = "notification"

  /// The event of ``appendNotification(to:_:occurredAt:in:)``, for ``appending(_:notifying:)``.
  public func notificationEvent(
    to recipientID: String, _ payload: CommerceV1.NotificationPayload, occurredAt: Date
  ) throws -> NewEvent {
    let event = CommerceV1.OutboxEvent.with {
      $0.recipientId = recipientID
      $0.occurTime = .init(occurredAt)
      $0.payload = payload
    }
    return try NewEvent(event, topic: Self.notificationTopic, aggregateID: recipientID)
  }

  /// Appends a notification for `recipientID` (a user id) to the outbox in `tx`; the relay
  /// delivers it once `tx` commits. The source event id is the outbox id, so NotificationService
  /// accepts it at most once however often the relay sends it.
  @discardableResult
  public func appendNotification(
    to recipientID: String, _ payload: CommerceV1.NotificationPayload, occurredAt: Date, in tx: PostgresTransaction
  ) async throws -> Int64 {
    let event = try notificationEvent(to: recipientID, payload, occurredAt: occurredAt)
    return try await append(event, in: tx)
  }
}

/// Delivers a service's notification events (``Outbox/notificationTopic``) to
/// NotificationService.PublishEvents, the relay every service runs as background work to tell
/// users about their orders, payments, shipments, tickets and returns.
///
/// It drains as every ``OutboxRelay`` does (at start, on the outbox's NOTIFY, and again with
/// backoff after a failure). A drain sends the unpublished events in outbox
/// order in batches of up to ``batchSize`` (source_event_id = the outbox id) and marks a batch
/// published only once NotificationService answered OK (it deduplicates by source service and
/// source_event_id, so a resend after a lost answer, or by another process's relay, is
/// harmless). A batch refused as INVALID_ARGUMENT is sent again
/// one event at a time, so that one malformed event (a bug of its service, which is logged) is
/// dropped instead of holding back every later one. Graceful shutdown ends it; the events it had
/// not sent stay in the outbox for the next start.
public struct NotificationRelay: Service {
  /// Events per PublishEvents call (the contract's maximum).
  public static let batchSize = 500

  let outbox: Outbox
  let pool: PostgresPool
  let notifications: CommerceV1.NotificationService.Client
  let logger: Logger
  let initialBackoff: Duration
  let maximumBackoff: Duration

  /// - Parameters:
  ///   - outbox: the service's outbox.
  ///   - pool: the pool its schema lives in.
  ///   - notifications: the transport to NotificationService (the peer "notifications"),
  ///     carrying the service's identity.
  public init(
    outbox: Outbox, pool: PostgresPool, notifications: any ClientTransport, logger: Logger,
    initialBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(30)
  ) {
    self.outbox = outbox
    self.pool = pool
    self.notifications = CommerceV1.NotificationService.Client(notifications)
    self.logger = logger
    self.initialBackoff = initialBackoff
    self.maximumBackoff = maximumBackoff
  }

  public func run() async throws {
    try await OutboxRelay(
      "notifications to NotificationService", outbox: outbox, pool: pool, logger: logger, initialBackoff: initialBackoff,
      maximumBackoff: maximumBackoff
    ) { _ = try await drain() }.run()
  }

  /// Sends every unpublished notification event, oldest first; returns how many it published.
  /// Each batch is read, sent and marked under the outbox's lock on the topic
  /// (``Outbox/exclusively(topic:pool:_:)``), so the relays of several processes send each
  /// event once between them; while another process holds it, it throws ``Outbox/TopicBusy``.
  @discardableResult
  public func drain() async throws -> Int {
    var total = 0
    while true {
      let published = try await outbox.exclusively(topic: Outbox.notificationTopic, pool: pool) { held in
        let events = try await held.unpublished(limit: Self.batchSize)
        guard !events.isEmpty else { return 0 }
        let batch = try events.map { event in
          var message = try CommerceV1.OutboxEvent(serializedBytes: event.payload)
          message.sourceEventId = String(event.id)
          return message
        }
        do {
          _ = try await notifications.publishEvents(.with { $0.events = batch })
        } catch let error as RPCError where error.code == .invalidArgument {
          try await sendOneByOne(batch)
        }
        try await held.markPublished(events.map(\.id))
        return events.count
      }
      total += published
      if published < Self.batchSize { return total }
    }
  }

  /// Sends each event on its own, dropping (and logging) those NotificationService refuses as
  /// INVALID_ARGUMENT; other failures throw.
  private func sendOneByOne(_ batch: [CommerceV1.OutboxEvent]) async throws {
    for event in batch {
      do {
        _ = try await notifications.publishEvents(.with { $0.events = [event] })
      } catch let error as RPCError where error.code == .invalidArgument {
        logger.error(
          "NotificationService refused a notification event; it is dropped",
          metadata: ["schema": "\(outbox.schema)", "sourceEventId": "\(event.sourceEventId)", "error": "\(error)"])
      }
    }
  }
}
