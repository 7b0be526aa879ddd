import Foundation
import Postgres
import PostgresEmbedded
import Synchronization
import Testing

/// A cluster of its own, stopped and started again on the same port while the pool is busy.
@Suite("PostgresPool across a server restart")
struct PostgresRestartTests {
  /// Outcomes of the load's statements.
  final class Tally: Sendable {
    struct Counts {
      var started = 0
      var succeeded = 0
      var failed: [String: Int] = [:]
      var succeededAfterRestart = 0
    }
    let counts = Mutex(Counts())
    let restarted = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
  }

  @Test("the pool recovers; every caller gets a result or an error; LISTEN resumes", .timeLimit(.minutes(2)))
  func restartMidLoad() async throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-pg-restart-\(UUID())")
    let dataDirectory = root.appendingPathComponent("data").path
    defer { try? FileManager.default.removeItem(at: root) }

    let cluster = try await EmbeddedPostgres.start(.init(dataDirectory: dataDirectory))
    let port = cluster.port
    let pool = try PostgresPool(
      configuration: .init(
        url: cluster.url(), minimumConnections: 2, maximumConnections: 4, acquireTimeout: .seconds(20),
        reconnectInitialDelay: .milliseconds(20), reconnectMaximumDelay: .milliseconds(300)))
    try await pool.query("CREATE TABLE hits (id bigserial PRIMARY KEY, caller int4 NOT NULL)")
    var notifications = try await pool.notifications(channel: "restart").makeAsyncIterator()

    let tally = Tally()
    let load = Task {
      try await withThrowingTaskGroup(of: Void.self) { group in
        for caller in 0..<16 {
          group.addTask {
            while !tally.stop.load(ordering: .relaxed) {
              let afterRestart = tally.restarted.load(ordering: .relaxed)
              tally.counts.withLock { $0.started += 1 }
              do {
                try await pool.query("INSERT INTO hits (caller) VALUES ($1)", [Int32(caller)])
                tally.counts.withLock {
                  $0.succeeded += 1
                  if afterRestart { $0.succeededAfterRestart += 1 }
                }
              } catch let error as PostgresError {
                tally.counts.withLock { $0.failed["\(error.code)", default: 0] += 1 }
                try await Task.sleep(for: .milliseconds(10))
              }
            }
          }
        }
        try await group.waitForAll()
      }
    }

    try await Task.sleep(for: .milliseconds(500))
    try await cluster.stop()  // pg_ctl stop -m fast; the named directory stays
    try await Task.sleep(for: .milliseconds(500))
    let restarted = try await EmbeddedPostgres.start(.init(dataDirectory: dataDirectory, port: port))
    tally.restarted.store(true, ordering: .relaxed)
    try await Task.sleep(for: .seconds(1))
    tally.stop.store(true, ordering: .relaxed)
    try await load.value  // nobody hangs: every loop ends

    let counts = tally.counts.withLock { $0 }
    #expect(counts.started == counts.succeeded + counts.failed.values.reduce(0, +))
    #expect(counts.succeededAfterRestart > 0)
    #expect(counts.succeeded > 0)
    let stored = try await pool.query("SELECT count(*) FROM hits").scalar(as: Int64.self) ?? -1
    // Statements that failed may or may not have run; successes certainly did.
    #expect(stored >= Int64(counts.succeeded))
    let metrics = pool.metrics
    #expect(metrics.connectionsOpened > 2)
    #expect(metrics.connectionsClosed >= 2)

    // The listener reconnected and LISTENs again.
    let sender = Task {
      while !Task.isCancelled {
        try? await pool.notify(channel: "restart", payload: "back")
        try? await Task.sleep(for: .milliseconds(50))
      }
    }
    let next = await notifications.next()
    sender.cancel()
    #expect(next?.payload == "back")

    await pool.close()
    try await restarted.stop()
  }
}
