import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension ShippingService {
  /// The migrations of schema `shipping`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "shipping")

  /// What the composition root needs: identity "shipping", schema "shipping", peers "orders"
  /// (the order's lines, customer and address; the shipment events) and "inventory" (the
  /// warehouses), the optional peer "notifications" (used when the process reaches it: the relay
  /// of shipment news to customers' notifications), and the relays and the watch drain as
  /// background work.
  /// Settings: `carriers` (the carriers and their DELIVERY_PARTNER users, docs/SHIPPING.md;
  /// default `acme-express,parcel-post,swift-freight` with no partner users).
  public static let declaration = makeDeclaration()

  /// The declaration, with `adjust` applied to the configuration its settings give; `made` gets
  /// the service once it is made (tests).
  public static func makeDeclaration(
    adjust: @escaping @Sendable (inout Configuration) -> Void = { _ in }, made: (@Sendable (ShippingService) -> Void)? = nil
  ) -> ServiceDeclaration {
    ServiceDeclaration(
      name: "shipping", schema: "shipping", migrations: migrations, peers: ["orders", "inventory"], optionalPeers: ["notifications"]
    ) { environment in
      var configured = try Self.configuration(environment.settings)
      adjust(&configured)
      let service = ShippingService(
        pool: environment.pool, orders: environment.peers.transport(for: "orders"),
        inventory: environment.peers.transport(for: "inventory"),
        notifications: environment.peers.has("notifications") ? environment.peers.transport(for: "notifications") : nil,
        configuration: configured, logger: environment.logger)
      made?(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
  }

  /// The configuration the declaration's settings give.
  public static func configuration(_ settings: [String: String]) throws -> Configuration {
    var configuration = Configuration()
    if let carriers = settings["carriers"] { try configuration.setCarriers(carriers) }
    return configuration
  }
}
