import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension SupportService {
  /// The migrations of schema `support`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "support")

  /// What the composition root needs: identity "support", schema "support", peers "orders" (the
  /// orders returns and tickets name; return events), "payments" (refunds), "inventory"
  /// (warehouses, restocks) and "auth" (agents), the optional peer "notifications" (the relay of
  /// customers' notifications), and the relays and the sweeper as background work.
  public static let declaration = makeDeclaration()

  /// The declaration, with `adjust` applied to the configuration; `made` gets the service once
  /// it is made (tests).
  public static func makeDeclaration(
    adjust: @escaping @Sendable (inout Configuration) -> Void = { _ in }, made: (@Sendable (SupportService) -> Void)? = nil
  ) -> ServiceDeclaration {
    ServiceDeclaration(
      name: "support", schema: "support", migrations: migrations, peers: ["orders", "payments", "inventory", "auth"],
      optionalPeers: ["notifications"]
    ) { environment in
      var configuration = Configuration()
      adjust(&configuration)
      let service = SupportService(
        pool: environment.pool, orders: environment.peers.transport(for: "orders"), payments: environment.peers.transport(for: "payments"),
        inventory: environment.peers.transport(for: "inventory"), auth: environment.peers.transport(for: "auth"),
        notifications: environment.peers.has("notifications") ? environment.peers.transport(for: "notifications") : nil,
        configuration: configuration, logger: environment.logger)
      made?(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
  }
}
