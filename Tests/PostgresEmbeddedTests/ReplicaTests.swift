import Foundation
import PostgresEmbedded
import TestSupport
import Testing

@Suite("EmbeddedPostgres replicas")
struct ReplicaTests {
  @Test("a replica streams from its slot, serves the primary's rows read-only, and drops its slot on stop")
  func replicaStreamsAndCleansUp() async throws {
    let primary = try await EmbeddedPostgres.start()
    let progress = ProgressRecorder()
    let replica = try await primary.startReplica(.init(progress: progress.callback))

    let slot = try #require(replica.replicationSlot)
    #expect(slot.hasPrefix("emporium_replica_"))
    #expect(primary.replicationSlot == nil)
    #expect(replica.port != primary.port)
    #expect(replica.isTemporary)
    guard case .copyingBaseBackup(let copiedInto) = progress.events.first else {
      Issue.record("unexpected progress: \(progress.events)")
      return
    }
    #expect(copiedInto == replica.dataDirectory)
    #expect(progress.events.last == .ready(port: replica.port))

    // The primary sees a streaming WAL sender on the replica's slot; the replica is a hot standby.
    #expect(
      try await SQLClient.value(
        primary.url(),
        """
        SELECT r.state FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid
        WHERE s.slot_name = '\(slot)' AND s.slot_type = 'physical'
        """) == "streaming")
    #expect(try await SQLClient.value(replica.url(), "SELECT pg_is_in_recovery()") == "t")
    #expect(try await SQLClient.value(replica.url(), "SHOW hot_standby") == "on")
    #expect(try await SQLClient.value(primary.url(), "SELECT pg_is_in_recovery()") == "f")

    // A database and a row written on the primary reach the replica.
    let shop = try await primary.createDatabase("shop")
    try await SQLClient.value(shop, "CREATE TABLE items (name text)")
    try await SQLClient.value(shop, "INSERT INTO items VALUES ('streamed')")
    let arrived = await eventually {
      (try? await SQLClient.value(replica.url(database: "shop"), "SELECT name FROM items")) == "streamed"
    }
    #expect(arrived)

    // A hot standby refuses writes.
    await #expect(throws: SQLClient.Failure.self) {
      try await SQLClient.value(replica.url(database: "shop"), "INSERT INTO items VALUES ('refused')")
    }

    try await replica.stop()
    #expect(!FileManager.default.fileExists(atPath: replica.dataDirectory))
    #expect(await SQLClient.ping(replica.url()) == .noResponse)
    #expect(try await SQLClient.value(primary.url(), "SELECT count(*) FROM pg_replication_slots") == "0")
    try await primary.stop()
  }

  @Test("a replica's settings follow the primary's, and a bad slot name or a replica of a replica is refused")
  func replicaSettingsAndRefusals() async throws {
    let primary = try await EmbeddedPostgres.start(.init(serverSettings: ["max_connections": "150"]))
    let badName = await #expect(throws: EmbeddedPostgresError.self) {
      try await primary.startReplica(.init(slotName: "Not-A-Slot"))
    }
    #expect(badName?.code == .invalidArgument)

    let replica = try await primary.startReplica(.init(slotName: "named_slot", serverSettings: ["work_mem": "8MB"]))
    #expect(replica.replicationSlot == "named_slot")
    // A hot standby may not have fewer connections than its primary: it starts with the primary's.
    #expect(try await SQLClient.value(replica.url(), "SHOW max_connections") == "150")
    #expect(try await SQLClient.value(replica.url(), "SHOW work_mem") == "8MB")

    let chained = await #expect(throws: EmbeddedPostgresError.self) {
      try await replica.startReplica()
    }
    #expect(chained?.code == .invalidArgument)

    try await replica.stop()
    #expect(try await SQLClient.value(primary.url(), "SELECT count(*) FROM pg_replication_slots") == "0")
    try await primary.stop()
    let stopped = await #expect(throws: EmbeddedPostgresError.self) {
      try await primary.startReplica()
    }
    #expect(stopped?.code == .stopped)
  }
}
