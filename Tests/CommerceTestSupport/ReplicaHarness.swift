public import CommerceKit
public import EmporiumApp
import Foundation
import Postgres
import PostgresEmbedded
import Testing
import TestSupport

/// Services on a primary with a streaming replica (both from the embedded launcher), as
/// `emporium serve --database-replica-url` runs them.
public enum ReplicaHarness {
  /// Runs `body` against `services` on a fresh primary with a streaming replica, once the
  /// replica has replayed the migrations.
  public static func run(
    _ name: String, services: [ServiceDeclaration], _ body: (TestApp, ReadReplica) async throws -> Void
  ) async throws {
    let primary = try await EmbeddedPostgres.start()
    do {
      let standby = try await primary.startReplica()
      do {
        let url = try await primary.createDatabase(name)
        try await TestApp.run(name, databaseURL: url, services: services, databaseReplicaURL: standby.url(database: name)) {
          host in
          let replica = try #require(host.app.replica)
          try await awaitCaughtUp(replica)
          try await body(host, replica)
        }
      } catch {
        try? await standby.stop()
        throw error
      }
      try await standby.stop()
    } catch {
      try? await primary.stop()
      throw error
    }
    try await primary.stop()
  }

  /// Waits until the replica has replayed everything the primary has written so far (and is
  /// measured healthy).
  public static func awaitCaughtUp(_ replica: ReadReplica) async throws {
    let target = try await replica.currentPrimaryPosition()
    let caughtUp = await eventually {
      guard (try? await replica.measureLag()) != nil, let replayed = try? await replica.replayedPosition() else { return false }
      return replayed >= target
    }
    #expect(caughtUp, "the replica did not catch up with the primary")
  }

  /// Pauses or resumes the replica's replay, and waits until it has.
  public static func setReplay(paused: Bool, on replica: ReadReplica) async throws {
    try await replica.replica.query(paused ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()")
    let state = paused ? "paused" : "not paused"
    let reached = await eventually {
      (try? await replica.replica.query("SELECT pg_get_wal_replay_pause_state()").scalar(as: String.self)) == state
    }
    #expect(reached, "replay did not become \(state)")
  }
}
