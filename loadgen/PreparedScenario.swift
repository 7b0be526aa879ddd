import ArgumentParser
import Foundation
import LoadCore
import RPC

#if canImport(Glibc)
import Glibc
#endif

/// A scenario prepared once against its target (the client pool open, customers logged in,
/// stock set), ready for any number of measured runs: `run` makes one, `capacity` and `sweep`
/// many. Owns the pool: ``close()`` when done. Keeps what it was prepared with (the clients,
/// the settings, the manifest) for whatever checks the deployment around the runs.
struct PreparedScenario: Sendable {
  let scenario: any Scenario
  let pool: RPCClientPool
  let clients: CommerceClients
  let settings: ScenarioSettings
  /// The manifest, loaded once when one was given.
  let manifest: LoadManifest?
  /// The scenario's name as asked for, and the target.
  let name: String
  let target: String
  /// The loop engine's connections, when it runs the journeys (`--engine`).
  let loopConnections: LoopConnections?

  /// Connects to the target and prepares the scenario (its share of the load, with
  /// `sharding`); `log` reports the preparation.
  static func prepare(
    _ options: ScenarioOptions, sharding: RunSharding = RunSharding(), log: @escaping @Sendable (String) -> Void
  ) async throws -> PreparedScenario {
    let settings = sharding.settings(try options.settings())
    let (host, port) = try RunCommand.parseTarget(options.target)
    let manifest = try options.manifest.map { try LoadManifest.load($0) }
    var poolConfiguration = RPCClientPool.Configuration()
    poolConfiguration.maxConnectionsPerEndpoint = options.connections
    let pool = RPCClientPool(endpoints: [Endpoint(host: host, port: port)], configuration: poolConfiguration)
    let clients = CommerceClients(pool)
    let scenario = options.scenario
    do {
      let prepared = sharding.scenario(
        try await Scenarios.make(
          scenario, settings: settings, clients: clients,
          manifest: {
            guard let manifest else { throw ValidationError("--scenario \(scenario) needs --manifest FILE") }
            return try sharding.manifest(manifest, customers: settings.customers)
          }, log: log))
      let oneCall = (prepared as? any OneCallScenario) ?? ((prepared as? ShardedScenario)?.base as? any OneCallScenario)
      if options.engine == .loop, oneCall == nil {
        throw ValidationError("--engine loop runs scenarios of one call per journey (echo); \(scenario) is not one")
      }
      let loopConnections =
        options.engine == .tasks || oneCall == nil
        ? nil
        : try await LoopConnections.connect(
          host: host, port: port, count: options.connections, configuration: poolConfiguration.connection,
          scenario: oneCall!, path: options.callPath, log: log)
      return PreparedScenario(
        scenario: prepared, pool: pool, clients: clients, settings: settings, manifest: manifest, name: scenario,
        target: options.target, loopConnections: loopConnections)
    } catch {
      await pool.close()
      throw error
    }
  }

  /// One measured run under `configuration`; `onInterval` sees each interval of it. Cancelling
  /// the calling task ends the run early (the result says it was interrupted).
  func measure(
    _ configuration: LoadRunConfiguration, onInterval: @escaping @Sendable (IntervalSnapshot) -> Void = { _ in }
  ) async -> LoadResult {
    let engine = LoadEngine(configuration: configuration, classify: Scenarios.classify, onInterval: onInterval)
    let scenario = self.scenario
    if let loopConnections {
      let oneCall = (scenario as? any OneCallScenario) ?? (scenario as! ShardedScenario).base as! any OneCallScenario
      return await loopConnections.measure(oneCall, engine: engine)
    }
    return await engine.run(journey: scenario.name) { context in try await scenario.journey(context) }
  }

  /// Before a measured phase that follows another (`capacity`'s steps, `sweep`'s points): the
  /// scenario sets back what the phases before used up (hot-product's stock). False, having
  /// logged why, when it could not.
  func refill(log: @escaping @Sendable (String) -> Void) async -> Bool {
    do {
      try await scenario.refill(log: log)
      return true
    } catch {
      log("could not set the stock back before the next phase: \(error)")
      return false
    }
  }

  func close() async {
    await loopConnections?.close()
    await pool.close()
  }
}

/// Ctrl-C (SIGINT) and SIGTERM cancel `body`'s task instead of killing the process, so what
/// was measured is still reported.
func cancellingOnSignals<Result: Sendable>(_ body: @escaping @Sendable () async -> Result) async -> Result {
  let running = Task { await body() }
  let stops = [SIGINT, SIGTERM].map { number in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler { running.cancel() }
    source.resume()
    return source
  }
  let result = await running.value
  for source in stops { source.cancel() }
  for number in [SIGINT, SIGTERM] { signal(number, SIG_DFL) }
  return result
}
