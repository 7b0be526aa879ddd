public import Foundation
import Synchronization
public import Logging
public import Messages
public import Postgres

/// The transactional outbox of one service schema (`<schema>.outbox`, from
/// ``PlatformMigrations``): events are written in the same transaction as the change they
/// describe, so an event exists exactly when its change committed. An event to send is also
/// queued in `<schema>.outbox_pending` (id and topic); a relay reads the queue in id order and
/// marks what it sent published, which takes it off the queue. The queue holds only what is
/// unsent, so it stays small and its reads cost the same however large the outbox grows (a
/// partial index of the outbox's unpublished rows did not: each published event left a dead
/// entry in it until a vacuum). `NOTIFY <schema>_outbox`, sent by the same transaction, wakes
/// the relay on commit.
public struct Outbox: Sendable {
  /// The service's schema.
  public let schema: String
  /// Topics no relay sends: the record of what happened, for readers of the table. Their events
  /// are written already published, so they never stand between a relay and its own events (an
  /// unpublished backlog that nothing drains only grows) and wake no relay.
  public let recordedTopics: Set<String>

  public init(schema: String, recordedTopics: Set<String> = []) {
    self.schema = schema
    self.recordedTopics = recordedTopics
  }

  /// The NOTIFY channel that announces new events.
  public var channel: String { schema + "_outbox" }

  /// Appends an event to the outbox in `tx`; it becomes visible, and the relay is woken, when
  /// `tx` commits. Returns the event's id (ids grow in commit order per writer, not globally).
  @discardableResult
  public func append(_ event: some ProtoMessage, topic: String, aggregateID: String, in tx: PostgresTransaction) async throws -> Int64 {
    try await append(NewEvent(event, topic: topic, aggregateID: aggregateID), in: tx)
  }

  /// ``append(_:topic:aggregateID:in:)`` for an event already serialized.
  @discardableResult
  public func append(_ event: NewEvent, in tx: PostgresTransaction) async throws -> Int64 {
    let recorded = recordedTopics.contains(event.topic)
    let rows = try await tx.query(
      recorded
        ? "WITH event AS (INSERT INTO \(schema).outbox (topic, aggregate_id, payload, published_at) "
          + "VALUES ($1, $2, $3, now()) RETURNING id) SELECT id, $4::text IS NULL FROM event"
        : "WITH event AS (INSERT INTO \(schema).outbox (topic, aggregate_id, payload) VALUES ($1, $2, $3) RETURNING id, topic), "
          + "queued AS (INSERT INTO \(schema).outbox_pending (id, topic) SELECT id, topic FROM event) "
          + "SELECT id, pg_notify($4, '') IS NULL FROM event",
      [event.topic, event.aggregateID, event.payload, channel])
    return try rows.first?.decode(0, as: Int64.self) ?? 0
  }

  /// An event to append with ``appending(_:notifying:)``.
  public struct NewEvent: Sendable {
    public var topic: String
    public var aggregateID: String
    public var payload: [UInt8]

    /// - Throws: What serializing `event` throws.
    public init(_ event: some ProtoMessage, topic: String, aggregateID: String) throws {
      self.topic = topic
      self.aggregateID = aggregateID
      self.payload = try event.serializedBytes()
    }
  }

  /// One statement that appends `events`, in order, wakes the relay, and sends `notifications`
  /// (channel, payload) as well: for a transaction's batch (``PostgresTransaction/query(_:)-([Statement])``,
  /// ``PostgresTransaction/queryAndCommit(_:)-([Statement])``), so that a change's events travel
  /// with its other statements in one round trip. As with ``append(_:topic:aggregateID:in:)``, the
  /// events become visible, and the notifications are delivered, when the transaction commits.
  /// Nil when there is nothing to append or send.
  public func appending(
    _ events: [NewEvent], notifying notifications: [(channel: String, payload: String)] = []
  ) throws -> PostgresTransaction.Statement? {
    var parameters: [any PostgresEncodable] = []
    func parameter(_ value: any PostgresEncodable) -> String {
      parameters.append(value)
      return "$\(parameters.count)"
    }
    let rows = events.map {
      "(\(parameter($0.topic)), \(parameter($0.aggregateID)), \(parameter($0.payload)), \(recordedTopics.contains($0.topic) ? "now()" : "NULL"))"
    }
    var wakeUps = notifications.map { "pg_notify(\(parameter($0.channel)), \(parameter($0.payload)))" }
    if events.contains(where: { !recordedTopics.contains($0.topic) }) { wakeUps.insert("pg_notify(\(parameter(channel)), '')", at: 0) }
    guard !rows.isEmpty || !wakeUps.isEmpty else { return nil }
    let select = wakeUps.isEmpty ? "SELECT 1" : "SELECT " + wakeUps.joined(separator: ", ")
    guard !rows.isEmpty else { return try PostgresTransaction.Statement(select, parameters) }
    // Rows of one VALUES list take their ids in list order. A data-modifying WITH runs whether
    // or not the SELECT reads it. Events to send are queued for their relay as well.
    let queued =
      events.allSatisfy { recordedTopics.contains($0.topic) }
      ? ""
      : ", queued AS (INSERT INTO \(schema).outbox_pending (id, topic) SELECT id, topic FROM events WHERE published_at IS NULL)"
    return try PostgresTransaction.Statement(
      "WITH events AS (INSERT INTO \(schema).outbox (topic, aggregate_id, payload, published_at) VALUES \(rows.joined(separator: ", ")) "
        + "RETURNING id, topic, published_at)\(queued) " + select, parameters)
  }

  /// Queues every unpublished event not queued yet and wakes the relay, in `tx`: for events
  /// written with `COPY` into `<schema>.outbox`, which the other ways of appending queue
  /// themselves.
  public func queueCopiedEvents(in tx: PostgresTransaction) async throws {
    try await tx.query(
      """
      WITH queued AS (
        INSERT INTO \(schema).outbox_pending (id, topic) SELECT id, topic FROM \(schema).outbox WHERE published_at IS NULL
        ON CONFLICT (id) DO NOTHING)
      SELECT pg_notify($1, '')
      """, [channel])
  }

  /// One stored event.
  public struct Event: Sendable, Hashable {
    public var id: Int64
    public var topic: String
    public var aggregateID: String
    public var payload: [UInt8]
  }

  private static let columns = "o.id, o.topic, o.aggregate_id, o.payload"

  private static func event(_ row: PostgresRow) throws -> Event {
    Event(
      id: try row.decode(0, as: Int64.self), topic: try row.decode(1, as: String.self),
      aggregateID: try row.decode(2, as: String.self), payload: try row.decode(3, as: [UInt8].self))
  }

  /// Up to `limit` unpublished events, oldest first.
  public func unpublished(limit: Int = 100, pool: PostgresPool) async throws -> [Event] {
    try await pool.query(
      "SELECT \(Self.columns) FROM \(schema).outbox_pending p JOIN \(schema).outbox o ON o.id = p.id ORDER BY p.id LIMIT $1",
      [Int64(limit)]
    ).map(Self.event)
  }

  /// Up to `limit` unpublished events of `topic`, oldest first. A relay that forwards only one
  /// topic (to one peer) reads with it and leaves the other topics' events to their relays. One
  /// topic by equality, so that the (topic, id) index serves both the filter and the order
  /// (with a list of topics the planner's generic plan walked every unpublished event by id).
  public func unpublished(topic: String, limit: Int = 100, pool: PostgresPool) async throws -> [Event] {
    try await pool.query(topicRead, [topic, Int64(limit)]).map(Self.event)
  }

  /// One topic's unpublished events, oldest first: `$1` the topic, `$2` how many.
  ///
  /// Written so that only the queue's (topic, id) index can serve it. With `topic = $1 ORDER BY id`,
  /// the planner may walk the id-ordered indexes and filter by topic instead, estimating that
  /// the topic's rows are spread evenly through the unpublished ones. They are not: another
  /// topic's backlog (a relay that is down, or a peer this deployment does not host) sits at the
  /// oldest ids, and a relay that keeps up has only its newest events left, so each read walked
  /// the whole backlog first (1.9 ms at 4,000 events in a checkout benchmark, before
  /// ``recordedTopics`` were written published). The range on topic keeps the order (topic, id)
  /// the index's own, which no other index has (docs/PERFORMANCE.md, "Fewer round trips per saga
  /// step").
  var topicRead: String {
    "SELECT \(Self.columns) FROM \(schema).outbox_pending p JOIN \(schema).outbox o ON o.id = p.id "
      + "WHERE p.topic >= $1 AND p.topic <= $1 ORDER BY p.topic, p.id LIMIT $2"
  }

  /// Runs `body` holding this outbox's lock on `topic` (a session-level advisory lock keyed by
  /// schema and topic, ``PostgresPool/withAdvisoryLock(_:_:)``, released when `body` ends, or
  /// with the connection if the process dies), or throws ``TopicBusy`` at once when another
  /// relay holds it. Relays that send a topic's events one by one, in order, thus drain it one
  /// process at a time. Without it, every process hosting the service sent every event:
  /// receivers drop the repeats by event id, but only after paying for them, each repeat
  /// waiting on the first copy's uncommitted insert of the same id (docs/PERFORMANCE.md, "Relays
  /// in several processes"). The lock is tried, not waited for, so that a relay never holds a
  /// pool connection idle while another one drains; ``OutboxRelay`` tries again shortly, and the
  /// drain in progress also sees the wake-ups that came meanwhile.
  ///
  /// `body` reads and marks through the ``TopicLease``, each statement on its own: no
  /// transaction stays open while it calls other services. An earlier version held one across
  /// a whole batch, for seconds under load, and the queue's vacuums waited on the buffers its
  /// read had pinned (docs/PERFORMANCE.md, "Relays that hold no transaction").
  public func exclusively<Result>(
    topic: String, pool: PostgresPool, _ body: (TopicLease) async throws -> Result
  ) async throws -> Result {
    let held = try await pool.withAdvisoryLock("\(schema).outbox/\(topic)") { connection in
      try await body(TopicLease(outbox: self, topic: topic, connection: connection))
    }
    guard let held else { throw TopicBusy(schema: schema, topic: topic) }
    return held
  }

  /// A topic held by ``exclusively(topic:pool:_:)``: its events read and marked on the
  /// connection that holds the lock.
  public struct TopicLease: Sendable {
    let outbox: Outbox
    public let topic: String
    let connection: PostgresConnection

    /// Up to `limit` unpublished events of the topic, oldest first.
    public func unpublished(limit: Int = 100) async throws -> [Event] {
      try await connection.query(outbox.topicRead, [topic, Int64(limit)]).map(Outbox.event)
    }

    /// Marks events published (out of the relays' queue).
    public func markPublished(_ ids: [Int64]) async throws {
      guard !ids.isEmpty else { return }
      try await connection.query(outbox.markWrite, [ids])
      QueueTally.shared.add(ids.count, schema: outbox.schema)
    }
  }

  /// Another process's relay is draining the topic (``exclusively(topic:pool:_:)``).
  public struct TopicBusy: Error, CustomStringConvertible {
    public var schema: String
    public var topic: String
    public var description: String { "another relay is draining \(topic) of \(schema).outbox" }
  }

  /// Up to `limit` unpublished events of `topic`, oldest first, locked for `tx` (FOR UPDATE SKIP
  /// LOCKED): relays of the same schema in several processes each take events the others have
  /// not taken, instead of all sending the same ones; events of other topics stay for their own
  /// relays. A relay marks what it sent in the same `tx`
  /// (``markPublished(_:in:)``); if it dies first, the locks go with its transaction and the
  /// events are there for the next drain.
  public func claim(topic: String, limit: Int = 100, in tx: PostgresTransaction) async throws -> [Event] {
    try await tx.query(topicRead + " FOR UPDATE OF p SKIP LOCKED", [topic, Int64(limit)]).map(Self.event)
  }

  /// Marks events published in `tx`.
  public func markPublished(_ ids: [Int64], in tx: PostgresTransaction) async throws {
    guard !ids.isEmpty else { return }
    try await tx.query(markWrite, [ids])
    QueueTally.shared.add(ids.count, schema: schema)
  }

  /// Marks events published.
  public func markPublished(_ ids: [Int64], pool: PostgresPool) async throws {
    guard !ids.isEmpty else { return }
    try await pool.query(markWrite, [ids])
    QueueTally.shared.add(ids.count, schema: schema)
  }

  /// How many events a process marks published before it vacuums the queue.
  public static let queueVacuumInterval = 1_000

  /// Vacuums `<schema>.outbox_pending` once this process has marked ``queueVacuumInterval``
  /// events of the schema published since it last did (counted per schema, whichever relay
  /// and `Outbox` value marked them); ``OutboxRelay`` calls it after each drain, beside its
  /// drains rather than between them. Returns whether it vacuumed.
  ///
  /// Each published event leaves a dead entry at the front of the queue's (topic, id) index,
  /// which every read walks until a vacuum removes it. Autovacuum visits a database once a
  /// minute, so between its visits a busy outbox would leave a minute of events there; the
  /// queue is small, so vacuuming it costs a few milliseconds. It never truncates the queue
  /// (platform migration `0004_outbox_pending_keeps_its_pages`), which would wait for an ACCESS
  /// EXCLUSIVE lock that every appending transaction stands in the way of. `SKIP_LOCKED`: when
  /// another process is vacuuming it, this one does not wait.
  @discardableResult
  public func vacuumQueueIfDue(pool: PostgresPool) async throws -> Bool {
    guard QueueTally.shared.take(schema: schema, atLeast: Self.queueVacuumInterval) else { return false }
    try await pool.query("VACUUM (SKIP_LOCKED) \(schema).outbox_pending")
    return true
  }

  /// Marks the events `$1` (ids) published: out of the relays' queue, with the time they went.
  var markWrite: String {
    "WITH sent AS (DELETE FROM \(schema).outbox_pending WHERE id = ANY($1)) "
      + "UPDATE \(schema).outbox SET published_at = now() WHERE id = ANY($1)"
  }
}

// MARK: Retention

extension Outbox {
  /// How long published events are kept by default: a week, for readers of the table (an
  /// incident's timeline, a consumer catching up), then ``retention(pool:keep:every:logger:now:)``
  /// deletes them. Unpublished events are never deleted.
  public static let defaultRetention: Duration = .seconds(7 * 24 * 3600)

  /// How many events one ``purge(publishedBefore:limit:pool:)`` deletes at most by default.
  public static let purgeBatch = 10_000

  /// Deletes up to `limit` events published before `cutoff`, oldest first; returns how many.
  /// Unpublished events stay, however old: their relay has not sent them yet.
  @discardableResult
  public func purge(publishedBefore cutoff: Date, limit: Int = Outbox.purgeBatch, pool: PostgresPool) async throws -> Int {
    // Oldest first along the primary key: old events are almost all published, so the walk
    // finds them at once and stops at the limit.
    try await pool.query(
      """
      DELETE FROM \(schema).outbox WHERE id IN (
        SELECT id FROM \(schema).outbox WHERE published_at < $1 ORDER BY id LIMIT $2)
      """, [cutoff, Int64(limit)]
    ).affectedRows
  }

  /// The background work that keeps the outbox from growing without bound: once at start and
  /// then every `interval`, deletes the events published more than `keep` ago, in batches.
  public func retention(
    pool: PostgresPool, keep: Duration = Outbox.defaultRetention, every interval: Duration = .seconds(3600), logger: Logger,
    now: @escaping @Sendable () -> Date = { Date() }
  ) -> PeriodicWork {
    let outbox = self
    return PeriodicWork("\(schema) outbox retention", every: interval, logger: logger) {
      let cutoff = now().addingTimeInterval(-Double(keep.components.seconds))
      var deleted = 0
      while true {
        let batch = try await outbox.purge(publishedBefore: cutoff, pool: pool)
        deleted += batch
        if batch < Outbox.purgeBatch { break }
      }
      if deleted > 0 { logger.info("published outbox events deleted", metadata: ["schema": "\(outbox.schema)", "count": "\(deleted)"]) }
    }
  }
}

/// Per schema, the events this process marked published since it last vacuumed the schema's
/// queue: one count for every relay of the schema, however many `Outbox` values they hold.
final class QueueTally: Sendable {
  static let shared = QueueTally()

  private let counts = Mutex<[String: Int]>([:])

  func add(_ n: Int, schema: String) { counts.withLock { $0[schema, default: 0] += n } }

  /// True, and the count back to zero, when the schema's count has reached `threshold`.
  func take(schema: String, atLeast threshold: Int) -> Bool {
    counts.withLock { counts in
      guard counts[schema, default: 0] >= threshold else { return false }
      counts[schema] = 0
      return true
    }
  }
}
