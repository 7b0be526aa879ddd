import CommerceAPI
public import CommerceKit
public import Foundation
public import Postgres

extension CatalogService {
  /// The migrations of schema `catalog`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "catalog")

  /// What the composition root needs: identity "catalog", schema "catalog", peer "auth" (for
  /// sellers' accounts), optional peer "cart" (a user's cart for PERSONALIZED
  /// recommendations), and the cache listener and reindex worker as background work. Reads
  /// go to the process's read replica when it has one (``ServiceEnvironment/replica``).
  /// Settings: `currency` (default USD), `cache-megabytes` (the product cache's budget, default
  /// 64; 0 turns the cache off).
  public static let declaration = ServiceDeclaration(
    name: "catalog", schema: "catalog", migrations: migrations, peers: ["auth"], optionalPeers: ["cart"]
  ) { environment in
    var configuration = Configuration()
    if let currency = environment.settings["currency"] {
      guard Money.isCurrencyCode(currency) else {
        throw CommerceError.invalidArgument(field: "currency", "must be an ISO 4217 code of three upper-case letters")
      }
      configuration.currency = currency
    }
    if let megabytes = environment.settings["cache-megabytes"].flatMap(Int.init), megabytes >= 0 {
      configuration.cacheBudgetBytes = megabytes << 20
    }
    let service = CatalogService(
      pool: environment.pool, auth: environment.peers.transport(for: "auth"),
      cart: environment.peers.has("cart") ? environment.peers.transport(for: "cart") : nil, configuration: configuration,
      logger: environment.logger, replica: environment.replica)
    return HostedService(rpc: service, background: service.backgroundServices)
  }
}
