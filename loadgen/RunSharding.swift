import ArgumentParser
import LoadCore

/// `loadgen run --shard I/N`: what this process changes so that N processes together run the
/// scenario's load once.
///
/// - The model: closed, its share of `--users` (the N shares add up to it exactly); open, its
///   share of `--rate`, `--ramp-to` and `--max-in-flight`, and a Poisson seed of its own so the
///   shards do not arrive in lockstep (``LoadShard``).
/// - Customers: the first `--customers` of the manifest are split among the shards, each
///   taking its own contiguous slice, so no two shards share an account or a cart.
/// - Journeys' choices (products, categories, a mix's parts) come from a generator of the
///   shard's own: shard 1 makes an unsharded run's choices, the others their own.
/// - Stock: only shard 1 sets it (the others would reset what it sells: a hot-product run that
///   sells out on purpose must see the stock set once). Start the shards together, with a
///   warm-up, so shard 1 has set it before the measured window.
///
/// Without `--shard` every step is the identity.
struct RunSharding {
  let shard: LoadShard?

  /// The whole load: no shard.
  init() { shard = nil }

  init(_ text: String?) throws {
    guard let text else {
      shard = nil
      return
    }
    guard let shard = LoadShard(parsing: text) else {
      throw ValidationError("--shard takes I/N with 1 <= I <= N (e.g. 2/4), not \(text)")
    }
    self.shard = shard
  }

  func model(_ model: LoadModel) throws -> LoadModel {
    guard let shard else { return model }
    do { return try shard.share(of: model) } catch { throw ValidationError("--shard \(shard): \(error)") }
  }

  func settings(_ settings: ScenarioSettings) -> ScenarioSettings {
    guard let shard else { return settings }
    var settings = settings
    settings.setsStock = shard.index == 1
    return settings
  }

  /// The manifest with only this shard's slice of the first `customers` customers (every
  /// other account, admins included, kept).
  func manifest(_ manifest: LoadManifest, customers: Int) throws -> LoadManifest {
    guard let shard else { return manifest }
    let all = manifest.customers
    guard !all.isEmpty else { return manifest }
    let pool = Array(all.prefix(max(1, customers)))
    let slice = pool[shard.slice(of: pool.count)]
    guard !slice.isEmpty else {
      throw ValidationError(
        "--shard \(shard): \(pool.count) customers cannot be split into \(shard.count) shards "
          + "(give --customers at least \(shard.count))")
    }
    var sharded = manifest
    sharded.users = manifest.users.filter { $0.role != "CUSTOMER" } + slice
    return sharded
  }

  func scenario(_ scenario: any Scenario) -> any Scenario {
    guard let shard, shard.index > 1 else { return scenario }
    return ShardedScenario(base: scenario, seed: shard.seed(0x6A09_E667_F3BC_C908))
  }
}

/// A scenario whose journeys draw from a generator of the shard's own.
struct ShardedScenario: Scenario {
  let base: any Scenario
  let seed: UInt64
  var name: String { base.name }

  func journey(_ context: JourneyContext) async throws {
    context.random = SplitMix64(seed: context.random.next() ^ seed)
    try await base.journey(context)
  }

  func refill(log: @escaping @Sendable (String) -> Void) async throws { try await base.refill(log: log) }
}
