import CommerceAPI
import CommerceAuth
import CommerceCart
import CommerceCatalog
import CommerceInventory
import CommerceKit
import CommerceNotifications
import CommercePayments
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceOrders

/// Auth, catalog, cart, inventory and orders hosted as `emporium serve` hosts them
/// (``TestApp``), with a seller, a category, a warehouse and callers; with `payments`, also
/// PaymentService with the sandbox provider (its asynchronous results relayed to orders).
/// Without it payments are unreachable, so a checkout that reserves stock stays
/// AWAITING_PAYMENT until a payment event arrives or the saga gives up.
struct OrderHarness {
  let host: TestApp
  let service: OrderService
  /// The sandbox provider, when PaymentService is hosted.
  let sandbox: SandboxProvider?
  let seller: CallOptions
  let sellerID: String
  let categoryID: String
  let warehouseID: String
  let admin: CallOptions
  var pool: PostgresPool { host.pool }
  var orders: CommerceV1.OrderService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var inventory: CommerceV1.InventoryService.Client { .init(host.connection) }
  var cart: CommerceV1.CartService.Client { .init(host.connection) }
  var payments: CommerceV1.PaymentService.Client { .init(host.connection) }

  /// The orders declaration of the tests: the real service with `configuration`, its peers
  /// without payments.
  static func declaration(
    _ configuration: OrderService.Configuration, payments: Bool, notifications: Bool = false, made: Made<OrderService>
  ) -> ServiceDeclaration {
    ServiceDeclaration(
      name: "orders", schema: "orders", migrations: OrderService.migrations,
      peers: ["catalog", "cart", "inventory"] + (payments ? ["payments"] : [])
    ) {
      environment in
      let service = OrderService(
        pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), cart: environment.peers.transport(for: "cart"),
        inventory: environment.peers.transport(for: "inventory"), payments: environment.peers.transport(for: "payments"),
        notifications: notifications ? environment.peers.transport(for: "notifications") : nil, configuration: configuration,
        logger: environment.logger)
      made.set(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
  }

  static func testConfiguration() -> OrderService.Configuration {
    var configuration = OrderService.Configuration()
    configuration.recoveryInterval = .milliseconds(200)
    configuration.peerCallTimeout = .seconds(20)
    return configuration
  }

  /// InventoryService as `emporium serve` hosts it, with ReserveStock coalescing on or off.
  static func inventoryDeclaration(coalesce: Bool) -> ServiceDeclaration {
    guard !coalesce else { return InventoryService.declaration }
    return ServiceDeclaration(name: "inventory", schema: "inventory", migrations: InventoryService.migrations, peers: ["catalog"]) {
      environment in
      var configuration = InventoryService.Configuration()
      configuration.coalesceReservations = false
      let service = InventoryService(
        pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), configuration: configuration, logger: environment.logger)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
  }

  static func run<Result>(
    configuration: OrderService.Configuration = testConfiguration(), payments: Bool = false, sandboxDelay: Duration = .seconds(1),
    databaseURL: String? = nil, coalesceReservations: Bool = true, notifications: Bool = false,
    _ body: (OrderHarness) async throws -> Result
  ) async throws -> Result {
    let made = Made<OrderService>()
    let madeSandbox = Made<SandboxProvider>()
    var services = [
      AuthService.declaration, CatalogService.declaration, CartService.declaration, inventoryDeclaration(coalesce: coalesceReservations),
      declaration(configuration, payments: payments, notifications: notifications, made: made),
    ]
    if notifications { services.append(NotificationService.declaration) }
    if payments {
      var sandbox = SandboxProvider.Configuration()
      sandbox.asynchronousDelay = sandboxDelay
      sandbox.initialRetryDelay = .milliseconds(20)
      sandbox.maximumRetryDelay = .milliseconds(200)
      let sandboxSettings = sandbox
      services.append(
        PaymentService.makeDeclaration(
          adjust: { $0.ordersRelay = true },
          provider: { configuration in SandboxProvider(webhookSecret: configuration.webhookSecret, configuration: sandboxSettings) },
          made: { _, provider in madeSandbox.set(provider as! SandboxProvider) }))
    }
    var url = databaseURL ?? ""
    if databaseURL == nil { url = try await TestApp.newDatabase("orders") }
    return try await TestApp.run("orders", databaseURL: url, services: services) { host in
      let admin = try await host.user(roles: [.admin])
      let seller = try await host.seller()
      let category = try await host.category(admin: admin)
      let warehouse = try await host.warehouse(admin: admin)
      return try await body(
        OrderHarness(
          host: host, service: made.service, sandbox: payments ? madeSandbox.service : nil, seller: seller.options, sellerID: seller.id, categoryID: category,
          warehouseID: warehouse, admin: admin))
    }
  }

  // MARK: Data

  /// An active product of the harness's seller (or of `seller`) with `stock` units (none
  /// recorded when negative).
  func product(price: Int64 = 1999, stock: Int64 = 10, status: CommerceV1.ProductStatus = .active, seller: CallOptions? = nil) async throws
    -> String
  {
    try await host.product(
      price: price, category: categoryID, warehouse: warehouseID, stock: stock, status: status, seller: seller ?? self.seller
    ).productId
  }

  func customer() async throws -> (id: String, options: CallOptions) {
    let id = UUID().uuidString.lowercased()
    return (id, try await host.user(id, roles: [.customer]))
  }

  static let address = TestApp.address

  static func card(_ number: String = "4242 4242 4242 4242") -> CommerceV1.PaymentMethod { TestApp.card(number) }

  /// A checkout request of explicit lines.
  static func request(
    _ lines: [(String, Int32)], key: String = UUID().uuidString, card: String = "4242 4242 4242 4242",
    expectedTotal: Int64? = nil
  ) -> CommerceV1.CheckoutRequest {
    TestApp.checkout(lines, key: key, card: card, expectedTotal: expectedTotal)
  }

  /// The stock of a product in the harness's warehouse: [on hand, reserved].
  func stock(_ productID: String) async throws -> [Int64] {
    let rows = try await pool.query(
      "SELECT on_hand, reserved FROM inventory.stock WHERE product_id = $1", [productID])
    guard let row = rows.first else { return [0, 0] }
    return [try row.decode(0, as: Int64.self), try row.decode(1, as: Int64.self)]
  }

  /// How many reservations inventory holds for an order.
  func reservations(order: String) async throws -> Int64 {
    try await pool.query("SELECT count(*)::int8 FROM inventory.reservations WHERE order_id = $1", [order]).first!.decode(0, as: Int64.self)
  }

  func orderCount() async throws -> Int64 {
    try await pool.query("SELECT count(*)::int8 FROM orders.orders").first!.decode(0, as: Int64.self)
  }

  /// Reports a payment result as PaymentService would.
  func paymentEvent(_ orderID: String, authorized: Bool, eventID: String = UUID().uuidString) async throws -> CommerceV1.ApplyOrderEventResponse {
    try await orders.applyOrderEvent(
      .with {
        $0.orderId = orderID
        $0.eventId = eventID
        $0.kind = authorized ? .paymentAuthorized : .paymentFailed
        $0.subjectId = "pay-" + orderID
      }, options: try await host.service("payments"))
  }
}
