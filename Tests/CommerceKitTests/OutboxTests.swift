import CommerceKit
import Messages
import Postgres
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

  /// The read a one-topic relay makes stays on the topic's index when other topics' events pile
  /// up unpublished, also in the generic plan a prepared statement settles on.
  @Test func aTopicReadUsesTheTopicIndex() async throws {
    try await withDatabase("commercekit_outbox_topic") { pool in
      try await pool.query(
        """
        INSERT INTO svc.outbox (topic, aggregate_id, payload)
        SELECT CASE WHEN i % 1000 = 0 THEN 'rare' ELSE 'common' END, i::text, '\\x00' FROM generate_series(1, 20000) i
        """)
      try await pool.query("ANALYZE svc.outbox")
      let plan = try await pool.withTransaction { tx in
        try await tx.query("SET LOCAL plan_cache_mode = force_generic_plan")
        try await tx.query(
          "PREPARE topic_read(text, int8) AS SELECT id FROM svc.outbox WHERE published_at IS NULL AND topic = $1 ORDER BY id LIMIT $2")
        let plan = try await tx.query("EXPLAIN (COSTS OFF) EXECUTE topic_read('rare', 100)").map { try $0.decode(0, as: String.self) }
        try await tx.query("DEALLOCATE topic_read")
        return plan.joined(separator: "\n")
      }
      #expect(plan.contains("outbox_unpublished_topic"), "\(plan)")
      #expect(!plan.contains("Sort"), "\(plan)")
      #expect(try await Self.outbox.unpublished(topic: "rare", pool: pool).count == 20)
    }
  }
}
