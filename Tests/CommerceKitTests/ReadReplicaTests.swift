import CommerceKit
import Foundation
import Postgres
import PostgresEmbedded
import TestSupport
import Testing

/// ReadReplica's routing rule against a real primary and a streaming replica from the embedded
/// launcher, with replay paused where a test needs the replica to lag.
@Suite("ReadReplica")
struct ReadReplicaTests {
  /// Runs `body` with a ReadReplica over a fresh primary and its streaming replica, once the
  /// replica has the test's table; stops both afterwards.
  static func run(
    _ configuration: ReadReplica.Configuration = .init(), _ body: (ReadReplica) async throws -> Void
  ) async throws {
    let primary = try await EmbeddedPostgres.start()
    let standby = try await primary.startReplica()
    let url = try await primary.createDatabase("routing")
    let primaryPool = try PostgresPool(configuration: .init(url: url, maximumConnections: 2))
    let replicaPool = try PostgresPool(configuration: .init(url: standby.url(database: "routing"), maximumConnections: 2))
    let replica = ReadReplica(primary: primaryPool, replica: replicaPool, configuration: configuration)
    do {
      try await primaryPool.query("CREATE TABLE items (name text)")
      try await Self.catchUp(replica)
      try await body(replica)
    } catch {
      Issue.record(error)
    }
    await replicaPool.close()
    await primaryPool.close()
    try await standby.stop()
    try await primary.stop()
  }

  /// Waits until the replica has replayed everything the primary wrote so far.
  static func catchUp(_ replica: ReadReplica) async throws {
    let target = try await replica.currentPrimaryPosition()
    #expect(await eventually { ((try? await replica.replayedPosition()) ?? nil).map { $0 >= target } ?? false })
  }

  static func pauseReplay(_ replica: ReadReplica) async throws {
    try await replica.replica.query("SELECT pg_wal_replay_pause()")
    #expect(
      await eventually {
        (try? await replica.replica.query("SELECT pg_get_wal_replay_pause_state()").scalar(as: String.self)) == "paused"
      })
  }

  static func user(_ id: String) -> Principal { Principal(kind: .user, subject: id, expiresAt: 0) }

  static func insert(_ replica: ReadReplica, by caller: Principal?) async throws {
    try await replica.write(by: caller) { try await replica.primary.query("INSERT INTO items VALUES ('x')") }
  }

  @Test("a writer reads the primary until the replica replays its write; others, and services acting for others, read the replica")
  func marksRouteTheirWriter() async throws {
    try await Self.run { replica in
      try await Self.pauseReplay(replica)
      try await Self.insert(replica, by: Self.user("ada"))

      #expect(await !replica.read(for: Self.user("ada")).onReplica)
      // A service acting for the writer counts as the writer.
      var cart = Principal(kind: .service, subject: "cart", expiresAt: 0)
      cart.onBehalfOf = Self.user("ada")
      #expect(await !replica.read(for: cart).onReplica)
      #expect(await replica.read(for: Self.user("bob")).onReplica)
      #expect(await replica.read(for: nil).onReplica)
      #expect(await replica.read(for: Principal(kind: .service, subject: "cart", expiresAt: 0)).onReplica)
      #expect(replica.statistics.marks == 1)

      // A write that fails marks nobody.
      await #expect(throws: PostgresError.self) {
        try await replica.write(by: Self.user("bob")) { try await replica.primary.query("INSERT INTO missing VALUES (1)") }
      }
      #expect(await replica.read(for: Self.user("bob")).onReplica)

      try await replica.replica.query("SELECT pg_wal_replay_resume()")
      #expect(await eventually { await replica.read(for: Self.user("ada")).onReplica })
      #expect(replica.statistics.marks == 0)
    }
  }

  @Test("marks are bounded in number (the oldest goes first) and in age")
  func marksAreBounded() async throws {
    var configuration = ReadReplica.Configuration()
    configuration.maximumMarks = 2
    try await Self.run(configuration) { replica in
      try await Self.pauseReplay(replica)
      for name in ["a", "b", "c"] { try await Self.insert(replica, by: Self.user(name)) }
      #expect(replica.statistics.marks == 2)
      #expect(await replica.read(for: Self.user("a")).onReplica)
      #expect(await !replica.read(for: Self.user("b")).onReplica)
      #expect(await !replica.read(for: Self.user("c")).onReplica)
    }
    configuration = ReadReplica.Configuration()
    configuration.markLifetime = .zero
    try await Self.run(configuration) { replica in
      try await Self.pauseReplay(replica)
      try await Self.insert(replica, by: Self.user("a"))
      // Expired at once: the writer reads the (lagging) replica again.
      #expect(await replica.read(for: Self.user("a")).onReplica)
    }
  }

  @Test("replica reads are cacheable only with no write in flight and every known write replayed")
  func cacheability() async throws {
    try await Self.run { replica in
      let before = await replica.read(for: nil)
      #expect(before.onReplica && replica.mayCache(before))
      try await Self.pauseReplay(replica)
      try await replica.write(by: nil) {
        #expect(!replica.mayCache(before), "cached during a write")
        try await replica.primary.query("INSERT INTO items VALUES ('y')")
      }
      // The replica had not replayed the write when these reads began.
      #expect(!replica.mayCache(before))
      let lagging = await replica.read(for: nil)
      #expect(lagging.onReplica && !replica.mayCache(lagging))
      // The primary's rows are always cacheable.
      let writer = Principal(kind: .service, subject: "inventory", expiresAt: 0)
      try await Self.insert(replica, by: writer)
      let fromPrimary = await replica.read(for: writer)
      #expect(!fromPrimary.onReplica && replica.mayCache(fromPrimary))

      try await replica.replica.query("SELECT pg_wal_replay_resume()")
      try await Self.catchUp(replica)
      let caughtUp = await replica.read(for: nil)
      #expect(caughtUp.onReplica && replica.mayCache(caughtUp))
    }
  }

  @Test("while the lag cannot be measured every read goes to the primary")
  func unmeasurableReplicaIsNotRead() async throws {
    let url = try await TestCluster.createDatabase("read_replica_not_a_standby")
    let primary = try PostgresPool(configuration: .init(url: url, maximumConnections: 2))
    // A "replica" that is not a standby: pg_last_wal_replay_lsn() is NULL there.
    let notAStandby = try PostgresPool(configuration: .init(url: url, maximumConnections: 2))
    let replica = ReadReplica(primary: primary, replica: notAStandby)
    #expect(await replica.read(for: nil).onReplica)
    await #expect(throws: PostgresError.self) { try await replica.measureLag() }
    #expect(await !replica.read(for: nil).onReplica)
    await notAStandby.close()
    await primary.close()
  }
}
