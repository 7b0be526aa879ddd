@testable import CommerceKit
import Foundation
import Logging
import Messages
import Postgres
import Synchronization
import TestSupport
import Testing

/// Relays of one schema in several processes share its outbox: what one claims, the others
/// skip until it commits (published) or rolls back (there again).
@Suite struct OutboxTests {
  static let outbox = Outbox(schema: "svc")

  static func append(_ count: Int, pool: PostgresPool) async throws {
    try await pool.withTransaction { tx in
      for index in 0..<count {
        try await outbox.append(RpcV1.EchoRequest.with { $0.message = "\(index)" }, topic: "t", aggregateID: "a\(index)", in: tx)
      }
    }
  }

  @Test func eventsExistExactlyWhenTheirChangeCommitted() async throws {
    try await withDatabase("commercekit_outbox") { pool in
      let outbox = Outbox(schema: "svc")
      let notifications = try await pool.notifications(channel: outbox.channel)
      var wakeUps = notifications.makeAsyncIterator()
      try await pool.withTransaction { tx in
        try await outbox.append(RpcV1.EchoRequest.with { $0.message = "placed" }, topic: "order.placed", aggregateID: "o-1", in: tx)
      }
      struct Rollback: Error {}
      _ = try? await pool.withTransaction { tx in
        try await outbox.append(RpcV1.EchoRequest.with { $0.message = "never" }, topic: "order.placed", aggregateID: "o-2", in: tx)
        throw Rollback()
      }
      #expect(await wakeUps.next() != nil)
      let events = try await outbox.unpublished(pool: pool)
      #expect(events.map(\.aggregateID) == ["o-1"])
      #expect(try RpcV1.EchoRequest(serializedBytes: events[0].payload).message == "placed")
      try await outbox.markPublished(events.map(\.id), pool: pool)
      #expect(try await outbox.unpublished(pool: pool).isEmpty)
    }
  }

  @Test func eventsAppendedTogetherKeepTheirOrderAndWakeTheRelayAndTheWatchers() async throws {
    try await withDatabase("commercekit_outbox_batch") { pool in
      let outbox = Outbox(schema: "svc")
      var relay = try await pool.notifications(channel: outbox.channel).makeAsyncIterator()
      var watchers = try await pool.notifications(channel: "svc_watch").makeAsyncIterator()
      let events = try ["first", "second", "third"].enumerated().map { index, message in
        try Outbox.NewEvent(RpcV1.EchoRequest.with { $0.message = message }, topic: index == 1 ? "b" : "a", aggregateID: "o-\(index)")
      }
      try await pool.withTransaction { tx in
        try await tx.queryAndCommit([try #require(try outbox.appending(events, notifying: [("svc_watch", "o-1")]))])
      }
      #expect(await relay.next() != nil)
      #expect(await watchers.next()?.payload == "o-1")
      // In the order given: ids grow with it, within a topic and across topics.
      let stored = try await outbox.unpublished(pool: pool)
      #expect(stored.map(\.aggregateID) == ["o-0", "o-1", "o-2"])
      #expect(try stored.map { try RpcV1.EchoRequest(serializedBytes: $0.payload).message } == ["first", "second", "third"])
      #expect(try await outbox.unpublished(topic: "a", pool: pool).map(\.aggregateID) == ["o-0", "o-2"])
      // Nothing to write: no statement.
      #expect(try outbox.appending([]) == nil)
    }
  }

  @Test func eventsOfRecordedTopicsAreWrittenPublished() async throws {
    try await withDatabase("commercekit_outbox_recorded") { pool in
      let outbox = Outbox(schema: "svc", recordedTopics: ["order.changed"])
      func event(_ topic: String, _ aggregate: String) throws -> Outbox.NewEvent {
        try Outbox.NewEvent(RpcV1.EchoRequest.with { $0.message = aggregate }, topic: topic, aggregateID: aggregate)
      }
      var relay = try await pool.notifications(channel: outbox.channel).makeAsyncIterator()
      try await pool.withTransaction { tx in
        try await outbox.append(try event("order.changed", "o-0"), in: tx)
        try await tx.queryAndCommit([try #require(try outbox.appending([event("order.changed", "o-1"), event("notification", "o-1")]))])
      }
      // Every event is stored; only the relayed one waits for its relay, which was woken.
      let stored = try await pool.query("SELECT topic, aggregate_id, published_at IS NOT NULL FROM svc.outbox ORDER BY id").map {
        "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: String.self)) \(try $0.decode(2, as: Bool.self))"
      }
      #expect(stored == ["order.changed o-0 true", "order.changed o-1 true", "notification o-1 false"])
      #expect(await relay.next() != nil)
      #expect(try await outbox.unpublished(pool: pool).map(\.topic) == ["notification"])
      // A batch of recorded events alone is still written.
      try await pool.withTransaction { tx in
        try await tx.queryAndCommit([try #require(try outbox.appending([event("order.changed", "o-2")]))])
      }
      #expect(try await pool.query("SELECT count(*) FROM svc.outbox WHERE aggregate_id = 'o-2' AND published_at IS NOT NULL").scalar(as: Int64.self) == 1)
    }
  }

  @Test func retentionDeletesOldPublishedEventsAndKeepsEveryUnpublishedOne() async throws {
    try await withDatabase("commercekit_outbox_retention") { pool in
      // Published 10 days ago, published an hour ago, and unpublished for 10 days.
      try await pool.query(
        """
        INSERT INTO svc.outbox (topic, aggregate_id, payload, created_at, published_at)
        SELECT 't', i::text, '\\x00', now() - interval '10 days',
          CASE WHEN i <= 25 THEN now() - interval '10 days' WHEN i <= 30 THEN now() - interval '1 hour' END
        FROM generate_series(1, 40) i
        """)
      func remaining() async throws -> [String] {
        try await pool.query("SELECT aggregate_id FROM svc.outbox ORDER BY id").map { try $0.decode(0, as: String.self) }
      }
      // In batches: the limit holds, and the oldest go first.
      let cutoff = Date().addingTimeInterval(-7 * 24 * 3600)
      #expect(try await Self.outbox.purge(publishedBefore: cutoff, limit: 10, pool: pool) == 10)
      #expect(try await remaining() == (11...40).map(String.init))
      // The background work deletes the rest of the old published ones at start, in its first round.
      let retention = Task { try await Self.outbox.retention(pool: pool, logger: Logger(label: "test")).run() }
      defer { retention.cancel() }
      #expect(try await eventually { try await remaining() == (26...40).map(String.init) })
    }
  }

  @Test func aClaimedBatchIsSkippedByOtherRelaysUntilItsTransactionEnds() async throws {
    try await withDatabase("commercekit_outbox_claim") { pool in
      try await Self.append(5, pool: pool)
      // An event of another topic is left for its own relay.
      try await pool.withTransaction { tx in
        try await Self.outbox.append(RpcV1.EchoRequest.with { $0.message = "x" }, topic: "other", aggregateID: "x", in: tx)
      }
      let first = try await pool.withTransaction { tx in
        let mine = try await Self.outbox.claim(topic: "t", limit: 3, in: tx)
        // Another relay, meanwhile, gets the two events this one has not claimed.
        let theirs = try await pool.withTransaction { other in try await Self.outbox.claim(topic: "t", limit: 10, in: other) }
        #expect(theirs.map(\.aggregateID) == ["a3", "a4"])
        try await Self.outbox.markPublished(mine.map(\.id), in: tx)
        return mine
      }
      #expect(first.map(\.aggregateID) == ["a0", "a1", "a2"])
      // Published by the first relay's commit; the second's claim ended without marking.
      #expect(try await Self.outbox.unpublished(pool: pool).map(\.aggregateID) == ["a3", "a4", "x"])
    }
  }

  @Test func aRelayThatFailsLeavesItsClaimForTheNext() async throws {
    try await withDatabase("commercekit_outbox_rollback") { pool in
      try await Self.append(2, pool: pool)
      struct Failed: Error {}
      await #expect(throws: Failed.self) {
        try await pool.withTransaction(maxAttempts: 1) { tx in
          _ = try await Self.outbox.claim(topic: "t", limit: 10, in: tx)
          throw Failed()
        }
      }
      let again = try await pool.withTransaction { tx in try await Self.outbox.claim(topic: "t", limit: 10, in: tx) }
      #expect(again.map(\.aggregateID) == ["a0", "a1"])
    }
  }

  /// Two processes' in-order relays of one topic (``OutboxRelay/drainInOrder``): while one
  /// sends a batch, the other's drain finds the topic busy and sends nothing, instead of sending
  /// the same events; the first sends them all, once each, in outbox order. The one sending holds
  /// the topic without a transaction open (a session idle in one keeps pins that the queue's
  /// vacuum waits for).
  @Test func inOrderRelaysOfSeveralProcessesSendEachEventOnce() async throws {
    try await withDatabase("commercekit_outbox_in_order") { pool in
      try await Self.append(5, pool: pool)
      final class Sent: Sendable { let ids = Mutex<[Int64]>([]) }
      let sent = Sent()
      let (started, start) = AsyncStream<Void>.makeStream()
      let (gate, open) = AsyncStream<Void>.makeStream()
      // The first relay's first send waits at the gate, holding the topic's lock.
      async let first = OutboxRelay.drainInOrder(of: "t", from: Self.outbox, pool: pool, batchSize: 2) { event in
        if sent.ids.withLock({ $0.isEmpty }) {
          start.yield()
          for await _ in gate {}
        }
        sent.ids.withLock { $0.append(event.id) }
      }
      for await _ in started { break }
      let idleInTransaction = try await pool.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
      ).scalar(as: Int64.self)
      #expect(idleInTransaction == 0, "sessions idle in a transaction while the relay sends")
      var busy = false
      do {
        _ = try await OutboxRelay.drainInOrder(of: "t", from: Self.outbox, pool: pool, batchSize: 2) { event in
          sent.ids.withLock { $0.append(event.id) }
        }
      } catch is Outbox.TopicBusy {
        busy = true
      }
      open.finish()
      #expect(try await first == 5)
      #expect(busy, "the second relay drained while the first one held the topic")
      let ids = sent.ids.withLock { $0 }
      #expect(ids.count == 5 && Set(ids).count == 5, "\(ids)")
      #expect(ids == ids.sorted())
      #expect(try await Self.outbox.unpublished(pool: pool).isEmpty)
    }
  }

  /// A relay that found its topic busy tries again on its own, and takes over once the holder
  /// lets go (a process that died releases the lock with its connection), without waiting for
  /// another event to wake it.
  @Test func aRelayThatFoundItsTopicBusyTakesOver() async throws {
    try await withDatabase("commercekit_outbox_take_over") { pool in
      try await Self.append(3, pool: pool)
      let (held, hold) = AsyncStream<Void>.makeStream()
      let (gate, open) = AsyncStream<Void>.makeStream()
      // Another process holds the topic and sends nothing.
      async let holder: Void = Self.outbox.exclusively(topic: "t", pool: pool) { _ in
        hold.yield()
        for await _ in gate {}
      }
      for await _ in held { break }
      final class Sent: Sendable {
        let ids = Mutex<[String]>([])
        let busy = Mutex(0)
      }
      let sent = Sent()
      let relay = OutboxRelay("test events", outbox: Self.outbox, pool: pool, logger: Logger(label: "test")) {
        do {
          try await OutboxRelay.drainInOrder(of: "t", from: Self.outbox, pool: pool) { event in
            sent.ids.withLock { $0.append(event.aggregateID) }
          }
        } catch let error as Outbox.TopicBusy {
          sent.busy.withLock { $0 += 1 }
          throw error
        }
      }
      let running = Task { try await relay.run() }
      // The relay has found the topic busy (at its start) before the holder lets go.
      #expect(await eventually { sent.busy.withLock { $0 } >= 1 })
      #expect(sent.ids.withLock { $0.isEmpty })
      open.finish()
      try await holder
      #expect(await eventually { sent.ids.withLock { $0.count } == 3 })
      running.cancel()
      #expect(sent.ids.withLock { $0 } == ["a0", "a1", "a2"])
    }
  }

  /// Drains start at least the relay's spacing apart, and events that arrive during the wait go
  /// out in one drain, however many wake-ups they sent.
  @Test func drainsStartAtLeastTheSpacingApartAndEventsArrivingMeanwhileGoTogether() async throws {
    try await withDatabase("commercekit_outbox_spacing") { pool in
      final class Drains: Sendable {
        let starts = Mutex<[ContinuousClock.Instant]>([])
        let sent = Mutex<[[String]]>([])
      }
      let drains = Drains()
      let spacing = Duration.seconds(2)
      let relay = OutboxRelay("test events", outbox: Self.outbox, pool: pool, logger: Logger(label: "test"), minimumSpacing: spacing) {
        drains.starts.withLock { $0.append(.now) }
        drains.sent.withLock { $0.append([]) }
        try await OutboxRelay.drainInOrder(of: "t", from: Self.outbox, pool: pool) { event in
          drains.sent.withLock { $0[$0.count - 1].append(event.aggregateID) }
        }
      }
      let running = Task { try await relay.run() }
      defer { running.cancel() }
      // The drain at start finds nothing; the first event's drain waits for the spacing.
      #expect(await eventually { drains.starts.withLock { $0.count } == 1 })
      try await pool.withTransaction { tx in
        try await Self.outbox.append(RpcV1.EchoRequest.with { $0.message = "0" }, topic: "t", aggregateID: "first", in: tx)
      }
      #expect(await eventually { drains.sent.withLock { $0.flatMap { $0 } } == ["first"] })
      // Three events, each its own transaction and wake-up, right after that drain began.
      for name in ["second", "third", "fourth"] {
        try await pool.withTransaction { tx in
          try await Self.outbox.append(RpcV1.EchoRequest.with { $0.message = name }, topic: "t", aggregateID: name, in: tx)
        }
      }
      #expect(await eventually { drains.sent.withLock { $0.flatMap { $0 }.count } == 4 })
      // (A wake-up left over from the three may start one more drain, with nothing to send.)
      let sent = drains.sent.withLock { $0 }
      #expect(Array(sent.prefix(3)) == [[], ["first"], ["second", "third", "fourth"]])
      let later = sent.dropFirst(3)
      #expect(later.allSatisfy { $0.isEmpty })
      let starts = drains.starts.withLock { $0 }
      for (earlier, later) in zip(starts, starts.dropFirst()) { #expect(later - earlier >= spacing) }
    }
  }

  /// An event whose send fails stays for the next drain, with the ones after it; those sent
  /// before it in the same batch are published.
  @Test func anInOrderDrainThatFailsKeepsTheRestInOrder() async throws {
    try await withDatabase("commercekit_outbox_in_order_failure") { pool in
      try await Self.append(4, pool: pool)
      struct Refused: Error {}
      final class Sent: Sendable { let ids = Mutex<[String]>([]) }
      let sent = Sent()
      await #expect(throws: Refused.self) {
        try await OutboxRelay.drainInOrder(of: "t", from: Self.outbox, pool: pool) { event in
          if event.aggregateID == "a2" { throw Refused() }
          sent.ids.withLock { $0.append(event.aggregateID) }
        }
      }
      #expect(sent.ids.withLock { $0 } == ["a0", "a1"])
      #expect(try await Self.outbox.unpublished(pool: pool).map(\.aggregateID) == ["a2", "a3"])
      #expect(try await OutboxRelay.drainInOrder(of: "t", from: Self.outbox, pool: pool) { _ in } == 2)
    }
  }

  /// The read a one-topic relay makes stays on the queue's topic index, in the generic plan a
  /// prepared statement settles on as in a custom one, when the queue looks as it does in
  /// production: a backlog of a topic nobody relays at the oldest ids, and only the newest
  /// events of the relayed topic. (The read by `topic = $1 ORDER BY id` walked the id index
  /// through the whole backlog there.)
  @Test func aTopicReadUsesTheTopicIndex() async throws {
    try await withDatabase("commercekit_outbox_topic") { pool in
      try await pool.query(
        """
        INSERT INTO svc.outbox (topic, aggregate_id, payload, published_at)
        SELECT CASE WHEN i <= 6000 THEN 'unrelayed' ELSE 'relayed' END, i::text, '\\x00',
          CASE WHEN i > 6000 AND i <= 19950 THEN now() END
        FROM generate_series(1, 20000) i
        """)
      try await pool.query("INSERT INTO svc.outbox_pending (id, topic) SELECT id, topic FROM svc.outbox WHERE published_at IS NULL")
      try await pool.query("ANALYZE svc.outbox, svc.outbox_pending")
      let sql = Self.outbox.topicRead
      var plans: [String] = []
      for mode in ["force_generic_plan", "force_custom_plan"] {
        plans.append(
          try await pool.withTransaction { tx in
            try await tx.query("SET LOCAL plan_cache_mode = \(mode)")
            try await tx.query("PREPARE topic_read(text, int8) AS \(sql)")
            let plan = try await tx.query("EXPLAIN (COSTS OFF) EXECUTE topic_read('relayed', 100)").map { try $0.decode(0, as: String.self) }
            try await tx.query("DEALLOCATE topic_read")
            return plan.joined(separator: "\n")
          })
      }
      for plan in plans {
        // The topic's rows alone, found by the index; sorting those few is allowed.
        #expect(plan.contains("outbox_pending_topic") && plan.contains("Index Cond: ((topic >= "), "\(plan)")
        #expect(!plan.contains("Filter"), "\(plan)")
      }
      let events = try await Self.outbox.unpublished(topic: "relayed", pool: pool)
      #expect(events.map(\.aggregateID) == (19951...20000).map(String.init))
      #expect(try await Self.outbox.unpublished(topic: "unrelayed", limit: 3, pool: pool).map(\.aggregateID) == ["1", "2", "3"])
    }
  }

  /// Publishing takes events off the queue, and the queue is vacuumed by the relays' process
  /// every `queueVacuumInterval` events, so a topic read stays a few buffers however many
  /// events went before it. (A partial index of the outbox's unpublished rows kept a dead entry
  /// per published event until autovacuum, which comes only once a fifth of the outbox is dead:
  /// every read walked them.)
  @Test func publishedEventsLeaveTheQueueAndItsReadsCheap() async throws {
    // A schema of its own: the count of published events that decides a vacuum is per schema
    // and process, and the other tests' relays share "svc".
    try await withDatabase("commercekit_outbox_queue", schema: "queued") { pool in
      let outbox = Outbox(schema: "queued")
      let count = Outbox.queueVacuumInterval + 1_000
      try await pool.withTransaction { tx in
        for start in stride(from: 0, to: count, by: 1_000) {
          let events = try (start..<min(start + 1_000, count)).map {
            try Outbox.NewEvent(RpcV1.EchoRequest.with { $0.message = "m" }, topic: "t", aggregateID: "a\($0)")
          }
          try await tx.query([try #require(outbox.appending(events))])
        }
      }
      #expect(try await pool.query("SELECT count(*) FROM queued.outbox_pending").scalar(as: Int64.self) == Int64(count))
      // The relay's way: read a batch, mark it published, until 10 are left.
      var published = 0
      while published < count - 10 {
        let batch = try await outbox.unpublished(topic: "t", limit: min(500, count - 10 - published), pool: pool)
        try await outbox.markPublished(batch.map(\.id), pool: pool)
        published += batch.count
      }
      #expect(try await pool.query("SELECT count(*) FROM queued.outbox_pending").scalar(as: Int64.self) == 10)
      #expect(try await pool.query("SELECT count(*) FROM queued.outbox WHERE published_at IS NOT NULL").scalar(as: Int64.self) == Int64(published))
      // Enough events went to vacuum the queue once, and not twice.
      #expect(try await outbox.vacuumQueueIfDue(pool: pool))
      #expect(try await !outbox.vacuumQueueIfDue(pool: pool))
      let plan = try await pool.withTransaction { tx in
        try await tx.query("PREPARE topic_read(text, int8) AS \(outbox.topicRead)")
        return try await tx.query("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE topic_read('t', 100)")
          .map { try $0.decode(0, as: String.self) }.joined(separator: "\n")
      }
      // The buffers the queue's scan touched (its node's "Buffers: shared hit=N"); the outbox's
      // rows it joins cost the same with or without a backlog of dead entries.
      let lines = plan.split(separator: "\n")
      let scan = lines.firstIndex { $0.contains("on outbox_pending p") }
      let hits = scan.flatMap { scan in
        lines[scan...].first { $0.contains("shared hit=") }.flatMap { line in
          line.range(of: "shared hit=").flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
        }
      }
      #expect(hits.map { $0 <= 5 } == true, "\(plan)")
      #expect(try await outbox.unpublished(topic: "t", pool: pool).map(\.aggregateID) == (count - 10..<count).map { "a\($0)" })
    }
  }

  /// A vacuum of an emptied queue leaves its pages in place. Cutting them off needs an ACCESS
  /// EXCLUSIVE lock, which a vacuum waited up to 5 s for while transactions appended events,
  /// and which made every one of them wait once it had it; the queue refills at once anyway.
  @Test func aVacuumNeverTruncatesTheQueue() async throws {
    try await withDatabase("commercekit_outbox_keeps_pages", schema: "kept") { pool in
      let outbox = Outbox(schema: "kept")
      try await pool.withTransaction { tx in
        let events = try (0..<2_000).map {
          try Outbox.NewEvent(RpcV1.EchoRequest.with { $0.message = "m" }, topic: "t", aggregateID: "a\($0)")
        }
        try await tx.query([try #require(outbox.appending(events))])
      }
      while case let batch = try await outbox.unpublished(topic: "t", limit: 500, pool: pool), !batch.isEmpty {
        try await outbox.markPublished(batch.map(\.id), pool: pool)
      }
      let size = "SELECT pg_relation_size('kept.outbox_pending')"
      let before = try #require(try await pool.query(size).scalar(as: Int64.self))
      #expect(before > 8192, "2,000 queued events fill several pages")
      try await pool.query("VACUUM kept.outbox_pending")
      #expect(try await pool.query(size).scalar(as: Int64.self) == before)
      #expect(try await pool.query("SELECT count(*) FROM kept.outbox_pending").scalar(as: Int64.self) == 0)
    }
  }
}
