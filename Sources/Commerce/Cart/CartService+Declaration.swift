import CommerceAPI
public import CommerceKit
public import Foundation
public import Postgres

extension CartService {
  /// The migrations of schema `cart`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "cart")

  /// What the composition root needs: identity "cart", schema "cart", peer "catalog" (prices,
  /// status and summaries of products), and the sweeper as background work.
  /// Settings: `currency` (default USD, the catalog's currency).
  public static let declaration = ServiceDeclaration(name: "cart", schema: "cart", migrations: migrations, peers: ["catalog"]) {
    environment in
    var configuration = Configuration()
    if let currency = environment.settings["currency"] {
      guard Money.isCurrencyCode(currency) else {
        throw CommerceError.invalidArgument(field: "currency", "must be an ISO 4217 code of three upper-case letters")
      }
      configuration.currency = currency
    }
    let service = CartService(
      pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), configuration: configuration,
      logger: environment.logger)
    return HostedService(rpc: service, background: service.backgroundServices)
  }
}
