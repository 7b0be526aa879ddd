import CommerceAPI
public import CommerceKit
public import Foundation
public import Postgres

extension CartService {
  /// The directory of the schema's migrations, shipped as the target's resources.
  public static var migrationsDirectory: String {
    Bundle.module.url(forResource: "Migrations", withExtension: nil)!.path
  }

  /// The migrations of schema `cart`.
  public static let migrations: [Migration] = {
    do {
      return try Migration.load(directory: migrationsDirectory)
    } catch {
      fatalError("the cart migrations shipped with the target cannot be read: \(error)")
    }
  }()

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
