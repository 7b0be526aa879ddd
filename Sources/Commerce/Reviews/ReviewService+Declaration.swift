import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension ReviewService {
  /// The migrations of schema `reviews`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "reviews")

  /// What the composition root needs: identity "reviews", schema "reviews", peers "catalog"
  /// (products, RecordRatingSummaries), "orders" (verified purchases) and "auth" (authors'
  /// names), and the rating summary relay as background work.
  public static let declaration = ServiceDeclaration(
    name: "reviews", schema: "reviews", migrations: migrations, peers: ["catalog", "orders", "auth"]
  ) { environment in
    let service = ReviewService(
      pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), orders: environment.peers.transport(for: "orders"),
      auth: environment.peers.transport(for: "auth"), logger: environment.logger)
    return HostedService(rpc: service, background: service.backgroundServices)
  }
}
