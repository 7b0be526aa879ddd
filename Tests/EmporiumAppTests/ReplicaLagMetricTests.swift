import CommerceKit
import EmporiumApp
import Foundation
import Logging
import Postgres
import PostgresEmbedded
import Prometheus
import RPC
import ServiceLifecycle
import TestSupport
import Testing

@Suite struct ReplicaLagMetricTests {
  /// The value of the unlabelled series `name` in the registry's Prometheus text, if present.
  static func value(_ name: String, in registry: PrometheusCollectorRegistry) -> Double? {
    for line in registry.emitToString().split(separator: "\n") where line.hasPrefix(name + " ") {
      return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
    }
    return nil
  }

  @Test("an app with a replica exports its lag as gauges, which grow while replay is paused and return to zero")
  func replicaLagIsExported() async throws {
    let primary = try await EmbeddedPostgres.start()
    let standby = try await primary.startReplica()
    let url = try await primary.createDatabase("lag")
    let registry = PrometheusCollectorRegistry()
    var configuration = EmporiumApp.Configuration(databaseURL: url)
    configuration.services = []
    configuration.databaseReplicaURL = standby.url(database: "lag")
    configuration.replicaLagInterval = .milliseconds(50)
    configuration.metricsFactory = RPCMetrics.prometheusFactory(registry: registry)
    configuration.server.port = 0
    let logger = Logger(label: "replica-lag-test")
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    do {
      let replica = try #require(app.replica)
      let bytes = ReadReplica.lagBytesMetric
      let seconds = ReadReplica.lagSecondsMetric
      // The lag monitor runs in the app's services and records both gauges.
      let exported = await eventually { Self.value(bytes, in: registry) == 0 && Self.value(seconds, in: registry) != nil }
      #expect(exported, "metrics: \(registry.emitToString())")

      // Writes the replica does not replay show as bytes behind.
      try await replica.replica.query("SELECT pg_wal_replay_pause()")
      #expect(
        await eventually {
          (try? await replica.replica.query("SELECT pg_get_wal_replay_pause_state()").scalar(as: String.self)) == "paused"
        })
      try await app.pool.query("CREATE TABLE lag_probe AS SELECT generate_series(1, 10000) AS n")
      #expect(await eventually { (Self.value(bytes, in: registry) ?? 0) > 0 }, "metrics: \(registry.emitToString())")

      try await replica.replica.query("SELECT pg_wal_replay_resume()")
      #expect(await eventually { Self.value(bytes, in: registry) == 0 }, "metrics: \(registry.emitToString())")
    } catch {
      Issue.record(error)
    }
    await group.triggerGracefulShutdown()
    try await running.value
    await app.close()
    try await standby.stop()
    try await primary.stop()
  }
}
