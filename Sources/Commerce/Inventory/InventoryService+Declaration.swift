import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension InventoryService {
  /// The migrations of schema `inventory`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "inventory")

  /// What the composition root needs: identity "inventory", schema "inventory", peer "catalog"
  /// (products' existence and sellers), and the expiry sweeper as background work.
  public static let declaration = ServiceDeclaration(
    name: "inventory", schema: "inventory", migrations: migrations, peers: ["catalog"]
  ) { environment in
    let service = InventoryService(pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), logger: environment.logger)
    return HostedService(rpc: service, background: service.backgroundServices)
  }
}
