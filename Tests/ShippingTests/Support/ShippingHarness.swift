import CommerceAPI
import CommerceAuth
import CommerceCart
import CommerceCatalog
import CommerceInventory
import CommerceKit
import CommerceNotifications
import CommerceOrders
import CommercePayments
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceShipping

/// Auth, catalog, cart, inventory, payments (the sandbox provider), orders and shipping hosted
/// as `emporium serve` hosts them (``TestApp``), with a seller, a category, a warehouse, an
/// admin, and two carriers each with a DELIVERY_PARTNER user: "acme-express" (``partner``) and
/// "parcel-post" (``otherPartner``); with `notifications`, NotificationService too, so that
/// shipping's, orders' and payments' notification relays run.
struct ShippingHarness {
  let host: TestApp
  /// The ShippingService the app hosts.
  let service: ShippingService
  let seller: CallOptions
  let sellerID: String
  let categoryID: String
  let warehouseID: String
  let admin: CallOptions
  /// A DELIVERY_PARTNER user of acme-express, and acme-express's service identity.
  let partner: CallOptions
  let partnerID: String
  let carrierService: CallOptions
  /// A DELIVERY_PARTNER user of parcel-post, and parcel-post's service identity.
  let otherPartner: CallOptions
  let otherCarrierService: CallOptions
  var pool: PostgresPool { host.pool }
  var shipping: CommerceV1.ShippingService.Client { .init(host.connection) }
  var orders: CommerceV1.OrderService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var inventory: CommerceV1.InventoryService.Client { .init(host.connection) }
  var payments: CommerceV1.PaymentService.Client { .init(host.connection) }
  var notifications: CommerceV1.NotificationService.Client { .init(host.connection) }

  static let carrier = "acme-express"
  static let otherCarrier = "parcel-post"

  /// Runs `body` on a new database, or on `databaseURL` (a restart of an earlier app), with the
  /// partner users `partnerIDs` (new ones by default), and NotificationService when
  /// `notifications`.
  static func run<Result>(
    databaseURL: String? = nil, partnerIDs: (String, String)? = nil, notifications: Bool = false,
    _ body: (ShippingHarness) async throws -> Result
  ) async throws -> Result {
    let partnerID = partnerIDs?.0 ?? "partner-" + UUID().uuidString.prefix(8).lowercased()
    let otherPartnerID = partnerIDs?.1 ?? "partner-" + UUID().uuidString.prefix(8).lowercased()
    var orders = OrderService.Configuration()
    orders.recoveryInterval = .milliseconds(200)
    orders.peerCallTimeout = .seconds(20)
    let orderConfiguration = orders
    let made = Made<ShippingService>()
    var services = [
      AuthService.declaration, CatalogService.declaration, CartService.declaration, InventoryService.declaration,
      PaymentService.makeDeclaration(adjust: { $0.ordersRelay = true }),
      ServiceDeclaration(
        name: "orders", schema: "orders", migrations: OrderService.migrations,
        peers: ["catalog", "cart", "inventory", "payments", "shipping"], optionalPeers: ["notifications"]
      ) { environment in
        let service = OrderService(
          pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), cart: environment.peers.transport(for: "cart"),
          inventory: environment.peers.transport(for: "inventory"), payments: environment.peers.transport(for: "payments"),
          notifications: environment.peers.has("notifications") ? environment.peers.transport(for: "notifications") : nil,
          shipping: environment.peers.transport(for: "shipping"), configuration: orderConfiguration, logger: environment.logger)
        return HostedService(rpc: service, background: service.backgroundServices)
      },
      ShippingService.makeDeclaration(
        adjust: { configuration in
          try! configuration.setCarriers("\(carrier):\(partnerID),\(otherCarrier):\(otherPartnerID)")
          configuration.peerCallTimeout = .seconds(20)
        }, made: { made.set($0) }),
    ]
    if notifications { services.append(NotificationService.declaration) }
    let url = if let databaseURL { databaseURL } else { try await TestApp.newDatabase("shipping") }
    return try await TestApp.run("shipping", databaseURL: url, services: services) { host in
      let admin = try await host.user(roles: [.admin])
      let seller = try await host.seller()
      let category = try await host.category(admin: admin)
      let warehouse = try await host.warehouse(admin: admin)
      return try await body(
        ShippingHarness(
          host: host, service: made.service, seller: seller.options, sellerID: seller.id, categoryID: category, warehouseID: warehouse,
          admin: admin, partner: try await host.user(partnerID, roles: [.deliveryPartner]), partnerID: partnerID,
          carrierService: try await host.service("delivery-partner-" + carrier),
          otherPartner: try await host.user(otherPartnerID, roles: [.deliveryPartner]),
          otherCarrierService: try await host.service("delivery-partner-" + otherCarrier)))
    }
  }

  // MARK: Data

  /// An active product of the harness's seller (or of `seller`) with `stock` units.
  func product(price: Int64 = 1999, stock: Int64 = 10, seller: CallOptions? = nil) async throws -> String {
    try await host.product(price: price, category: categoryID, warehouse: warehouseID, stock: stock, seller: seller ?? self.seller).productId
  }

  func customer() async throws -> (id: String, options: CallOptions) {
    let id = UUID().uuidString.lowercased()
    return (id, try await host.user(id, roles: [.customer]))
  }

  /// A CONFIRMED order (paid with the sandbox's always-authorized card) of `lines` (product,
  /// quantity), placed by a new customer unless one is given.
  func paidOrder(_ lines: [(String, Int32)], customer given: CallOptions? = nil) async throws -> (order: CommerceV1.Order, customer: CallOptions) {
    let customer = if let given { given } else { try await self.customer().options }
    let order = try await orders.checkout(TestApp.checkout(lines), options: customer).order!
    #expect(order.status == .confirmed)
    return (order, customer)
  }

  /// CreateShipment by the harness's seller (or `caller`).
  func ship(
    _ order: CommerceV1.Order, lines: [(String, Int32)] = [], carrier: String = ShippingHarness.carrier, trackingNumber: String = "",
    key: String = UUID().uuidString, caller: CallOptions? = nil
  ) async throws -> CommerceV1.Shipment {
    try await shipping.createShipment(
      .with {
        $0.orderId = order.orderId
        $0.lines = lines.map { line in
          .with {
            $0.orderLineId = line.0
            $0.quantity = line.1
          }
        }
        $0.carrierId = carrier
        $0.trackingNumber = trackingNumber
        $0.warehouseId = warehouseID
        $0.idempotencyKey = key
      }, options: caller ?? seller
    ).shipment!
  }

  /// UpdateShipmentStatus by the acme-express partner user (or `caller`), `minutesAgo` minutes
  /// before now.
  @discardableResult
  func report(
    _ shipment: CommerceV1.Shipment, _ status: CommerceV1.ShipmentStatus, minutesAgo: Double = 0, eventID: String = UUID().uuidString,
    note: String = "", caller: CallOptions? = nil
  ) async throws -> CommerceV1.UpdateShipmentStatusResponse {
    try await shipping.updateShipmentStatus(
      .with {
        $0.shipmentId = shipment.shipmentId
        $0.status = status
        $0.occurTime = .init(Date().addingTimeInterval(-minutesAgo * 60))
        $0.partnerEventId = eventID
        $0.note = note
        $0.location = .with {
          $0.facilityName = "Oakland hub"
          $0.locality = "Oakland"
          $0.regionCode = "US"
          $0.coordinates = .with {
            $0.latitude = 37.8
            $0.longitude = -122.27
          }
        }
      }, options: caller ?? partner)
  }

  /// The order as its customer reads it.
  func order(_ id: String, _ customer: CallOptions) async throws -> CommerceV1.Order {
    try await orders.getOrder(.with { $0.orderId = id }, options: customer).order!
  }

  /// Waits until the order has `status` (the relay delivers shipment events asynchronously).
  func awaitOrder(_ id: String, _ status: CommerceV1.OrderStatus, _ customer: CallOptions) async throws -> CommerceV1.Order {
    var last: CommerceV1.Order?
    let reached = await eventually {
      last = try? await order(id, customer)
      return last?.status == status
    }
    #expect(reached, "order \(id) is \(String(describing: last?.status)), not \(status)")
    return last!
  }
}
