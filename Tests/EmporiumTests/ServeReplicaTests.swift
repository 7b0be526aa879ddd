import CommerceAPI
import Foundation
import Messages
import PostgresEmbedded
import RPC
import TestSupport
import Testing

/// `emporium serve --database-replica-url`, as an operator runs it: a primary and a streaming
/// replica from the embedded launcher, a real server process, its metrics endpoint.
@Suite("emporium serve --database-replica-url")
struct ServeReplicaTests {
  @Test("catalog searches read the replica, and the replica's lag is on the metrics endpoint")
  func servesFromTheReplica() async throws {
    let primary = try await EmbeddedPostgres.start()
    let standby = try await primary.startReplica()
    let url = try await primary.createDatabase("serve_replica")
    let server = try await ServeCommandTests.startServer(
      databaseURL: url, extra: ["--database-replica-url", standby.url(database: "serve_replica")], metricsPort: true,
      echo: false)
    let metricsPort = try #require(server.metricsPort)
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: server.port)
    let catalog = CommerceV1.CatalogService.Client(connection)

    // Until the replica has the migrated database (and its lag was measured), reads go to the
    // primary; then anonymous searches are counted as the replica's. Each query is new, so no
    // search is answered from the cache.
    var round = 0
    var metrics = ""
    let servedByReplica = await eventually {
      round += 1
      _ = try? await catalog.searchProducts(.with { $0.query = "lamp\(round)" })
      metrics = (try? ServeCommandTests.httpGet(port: metricsPort, path: "/metrics")) ?? ""
      return metrics.contains(#"emporium_database_replica_reads_total{target="replica"}"#)
    }
    #expect(servedByReplica, "metrics: \(metrics)")
    #expect(metrics.contains("emporium_database_replica_lag_bytes "))
    #expect(metrics.contains("emporium_database_replica_lag_seconds "))

    await connection.close()
    kill(server.process.processIdentifier, SIGTERM)
    #expect(await ServeCommandTests.waitForExit(server.process, within: .seconds(15)))
    #expect(server.process.terminationStatus == 0)
    try await standby.stop()
    try await primary.stop()
  }

  @Test("--database-replica-url without --database-url, or with --no-database, is a clear start-up error")
  func needsThePrimary() async throws {
    func failure(_ arguments: [String]) async throws -> String {
      try await ServeCommandTests.failedStart(["--listen", "127.0.0.1:0"] + arguments)
    }
    let replica = "postgresql://emporium@127.0.0.1:1/replica"
    let withoutPrimary = try await failure(["--database-replica-url", replica])
    #expect(withoutPrimary.contains("--database-replica-url needs --database-url"), "\(withoutPrimary)")
    let withoutDatabase = try await failure(["--no-database", "--database-replica-url", replica])
    #expect(withoutDatabase.contains("--database-replica-url needs a database"), "\(withoutDatabase)")
  }
}
