import CommerceAPI
public import CommerceKit
import Foundation
public import Postgres

extension OrderService {
  /// The migrations of schema `orders`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "orders")

  /// What the composition root needs: identity "orders", schema "orders", peers "catalog"
  /// (prices, titles, sellers), "cart" (the lines to buy, clearing them), "inventory"
  /// (reservations) and "payments" (authorization, void, refund, capture), and the saga
  /// recovery worker as background work; optional peers, used when the process reaches them:
  /// "notifications" (the relay of status changes to customers' notifications) and "shipping"
  /// (the shipments CancelOrder cancels).
  /// Settings: `checkout-reservation-ttl` (seconds, default 900), `checkout-timeout` (seconds,
  /// default 1800) and `saga-lease` (seconds a saga's owner holds it before another process's
  /// recovery takes it over, default 60).
  public static let declaration = ServiceDeclaration(
    name: "orders", schema: "orders", migrations: migrations, peers: ["catalog", "cart", "inventory", "payments"],
    optionalPeers: ["notifications", "shipping"]
  ) { environment in
    let service = OrderService(
      pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), cart: environment.peers.transport(for: "cart"),
      inventory: environment.peers.transport(for: "inventory"), payments: environment.peers.transport(for: "payments"),
      notifications: environment.peers.has("notifications") ? environment.peers.transport(for: "notifications") : nil,
      shipping: environment.peers.has("shipping") ? environment.peers.transport(for: "shipping") : nil,
      configuration: try configuration(environment.settings), logger: environment.logger, replica: environment.replica)
    return HostedService(rpc: service, background: service.backgroundServices)
  }

  /// The configuration the declaration's settings give.
  public static func configuration(_ settings: [String: String]) throws -> Configuration {
    var configuration = Configuration()
    if let text = settings["checkout-reservation-ttl"] {
      guard let seconds = Int64(text), seconds >= 60, seconds <= 3600 else {
        throw CommerceError.invalidArgument(field: "checkout-reservation-ttl", "must be 60 to 3600 seconds")
      }
      configuration.reservationTTL = .seconds(seconds)
    }
    if let text = settings["checkout-timeout"] {
      guard let seconds = Int64(text), seconds >= 60 else {
        throw CommerceError.invalidArgument(field: "checkout-timeout", "must be at least 60 seconds")
      }
      configuration.paymentTimeout = TimeInterval(seconds)
    }
    if let text = settings["saga-lease"] {
      guard let seconds = Int64(text), (2...3600).contains(seconds) else {
        throw CommerceError.invalidArgument(field: "saga-lease", "must be 2 to 3600 seconds")
      }
      configuration.sagaLease = TimeInterval(seconds)
    }
    return configuration
  }
}
