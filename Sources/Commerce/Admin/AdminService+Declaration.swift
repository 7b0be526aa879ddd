import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension AdminService {
  /// The migrations of schema `admin`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "admin")

  /// What the composition root needs: identity "admin", schema "admin", peers "auth"
  /// (accounts), "reviews" (moderation) and "catalog" (search reindex jobs).
  public static let declaration = ServiceDeclaration(
    name: "admin", schema: "admin", migrations: migrations, peers: ["auth", "reviews", "catalog"]
  ) { environment in
    HostedService(
      rpc: AdminService(
        pool: environment.pool, auth: environment.peers.transport(for: "auth"), reviews: environment.peers.transport(for: "reviews"),
        catalog: environment.peers.transport(for: "catalog"), logger: environment.logger))
  }
}
