import CommerceTestSupport
import EmporiumApp
import EmporiumSeed
import Foundation
import Logging
import NIOCore
import Postgres
import RPC

@testable import loadgen

/// A seeded database with every service hosted on it as `emporium serve` hosts them, for the
/// duration of `body`: the seed's manifest as loadgen reads it, and clients of the deployment
/// over a pool of its own.
func withSeededDeployment<Result>(
  _ prefix: String, products: Int, users: Int, seed: UInt64,
  _ body: (LoadManifest, CommerceClients) async throws -> Result
) async throws -> Result {
  let url = try await TestApp.newDatabase(prefix)
  let seedPool = try PostgresPool(configuration: .init(url: url, maximumConnections: 4))
  let seeded: SeedManifest
  do {
    seeded = try await Seeder.run(
      SeedGenerator(SeedConfiguration(products: products, users: users, sellers: 1, seed: seed)), pool: seedPool,
      logger: Logger(label: prefix))
    await seedPool.close()
  } catch {
    await seedPool.close()
    throw error
  }
  let manifest = try JSONDecoder().decode(LoadManifest.self, from: try seeded.json())
  return try await TestApp.run(prefix, databaseURL: url, services: ServiceCatalog.all) { app in
    let port = try await app.app.server.localAddress().port!
    let pool = RPCClientPool(endpoints: [Endpoint(host: "127.0.0.1", port: port)])
    do {
      let result = try await body(manifest, CommerceClients(pool))
      await pool.close()
      return result
    } catch {
      await pool.close()
      throw error
    }
  }
}
