import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension InventoryService {
  /// The directory of the schema's migrations, shipped as the target's resources.
  public static var migrationsDirectory: String {
    Bundle.module.url(forResource: "Migrations", withExtension: nil)!.path
  }

  /// The migrations of schema `inventory`.
  public static let migrations: [Migration] = {
    do {
      return try Migration.load(directory: migrationsDirectory)
    } catch {
      fatalError("the inventory migrations shipped with the target cannot be read: \(error)")
    }
  }()

  /// What the composition root needs: identity "inventory", schema "inventory", peer "catalog"
  /// (products' existence and sellers), and the expiry sweeper as background work.
  public static let declaration = ServiceDeclaration(
    name: "inventory", schema: "inventory", migrations: migrations, peers: ["catalog"]
  ) { environment in
    let service = InventoryService(pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), logger: environment.logger)
    return HostedService(rpc: service, background: service.backgroundServices)
  }
}
