import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension AdminService {
  /// The migrations of schema `admin`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "admin")

  /// What the composition root needs: identity "admin", schema "admin", peers "auth"
  /// (accounts), "reviews" (moderation), "catalog" (search reindex jobs) and, for the
  /// dashboard's figures, "orders", "payments" and "support" besides those.
  public static let declaration = ServiceDeclaration(
    name: "admin", schema: "admin", migrations: migrations, peers: ["auth", "reviews", "catalog", "orders", "payments", "support"]
  ) { environment in
    HostedService(
      rpc: AdminService(
        pool: environment.pool, auth: environment.peers.transport(for: "auth"), reviews: environment.peers.transport(for: "reviews"),
        catalog: environment.peers.transport(for: "catalog"), orders: environment.peers.transport(for: "orders"),
        payments: environment.peers.transport(for: "payments"), support: environment.peers.transport(for: "support"),
        logger: environment.logger))
  }
}
