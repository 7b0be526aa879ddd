import CommerceAPI
import CommerceAuth
import CommerceCatalog
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Logging
import Messages
import NIOCore
import Postgres
import PostgresEmbedded
import RPC
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import CommerceInventory

/// AuthService, CatalogService and InventoryService hosted as `emporium serve` hosts them
/// (``TestApp``). The inventory reaches the catalog in-process and reads a clock the test can
/// move.
struct InventoryHarness {
  let host: TestApp
  let service: InventoryService
  let clock: TestClock
  /// A seller with ROLE_SELLER, whose products the test creates, and its id.
  let seller: CallOptions
  let sellerID: String
  let categoryID: String
  /// An ADMIN user and the service identity "orders".
  let admin: CallOptions
  let orders: CallOptions
  var app: EmporiumApp { host.app }
  var pool: PostgresPool { host.pool }
  var inventory: CommerceV1.InventoryService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }

  /// The service's clock: real time plus an offset the test moves forward.
  final class TestClock: Sendable {
    let offset = Mutex<TimeInterval>(0)
    func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
  }

  /// - Parameter sweepInterval: how often the expiry sweeper runs in the background (it also
  ///   runs once at start); long by default, so tests run sweeps themselves; nil: not at all,
  ///   for tests that count what their own sweeps expire (a first round at start that a busy
  ///   machine delays could otherwise take it first).
  /// - Parameter coalesce: whether ReserveStock calls are served in batches (the default).
  static func run<Result>(sweepInterval: Duration? = .seconds(3600), coalesce: Bool = true, _ body: (InventoryHarness) async throws -> Result) async throws
    -> Result
  {
    let made = Made<InventoryService>()
    let clock = TestClock()
    let inventory = ServiceDeclaration(
      name: "inventory", schema: "inventory", migrations: InventoryService.migrations, peers: ["catalog"]
    ) { environment in
      var settings = InventoryService.Configuration()
      settings.expirySweepInterval = sweepInterval
      settings.coalesceReservations = coalesce
      let service = InventoryService(
        pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), configuration: settings,
        logger: environment.logger, now: { clock.now() })
      made.set(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
    return try await TestApp.run("inventory", services: [AuthService.declaration, CatalogService.declaration, inventory]) { host in
      let admin = try await host.user(roles: [.admin])
      let seller = try await host.seller()
      let category = try await CommerceV1.CatalogService.Client(host.connection).createCategory(
        .with {
          $0.name = "Audio"
          $0.slug = "audio"
        }, options: admin
      ).category!
      return try await body(
        InventoryHarness(
          host: host, service: made.service, clock: clock, seller: seller.options, sellerID: seller.id,
          categoryID: category.categoryId, admin: admin, orders: try await host.service("orders")))
    }
  }

  // MARK: Callers

  static func bearer(_ token: String) -> CallOptions { TestApp.bearer(token) }

  /// Call options of a user with these roles (the account need not exist).
  func user(id: String = UUID().uuidString.lowercased(), roles: Set<CommerceV1.Role>) async throws -> CallOptions {
    try await host.user(id, roles: roles)
  }

  /// Call options of a service identity.
  func service(_ name: String) async throws -> CallOptions { try await host.service(name) }

  // MARK: Data

  /// A product of the harness's seller.
  func product(_ title: String = "Headphones") async throws -> CommerceV1.Product {
    try await catalog.createProduct(
      .with { $0.product = .draft(title, category: categoryID) }, options: seller
    ).product!
  }

  /// A warehouse with a new code.
  func warehouse(_ name: String = "San Francisco") async throws -> CommerceV1.Warehouse {
    let code = "W" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(8))
    return try await inventory.createWarehouse(
      .with {
        $0.code = code
        $0.name = name
        $0.regionCode = "US"
      }, options: admin
    ).warehouse!
  }

  /// Sets on_hand of a product in a warehouse as the admin.
  @discardableResult
  func stock(_ product: String, _ warehouse: String, onHand: Int64) async throws -> CommerceV1.WarehouseStock {
    try await inventory.setStock(
      .with {
        $0.productId = product
        $0.warehouseId = warehouse
        $0.onHand = onHand
      }, options: admin
    ).stock!
  }

  /// The stock row of a product in a warehouse, as the admin reads it.
  func row(_ product: String, _ warehouse: String) async throws -> CommerceV1.WarehouseStock {
    try await inventory.getStock(
      .with {
        $0.productIds = [product]
        $0.warehouseId = warehouse
      }, options: admin
    ).stocks[0].warehouses[0]
  }

  /// Reserves as OrderService.
  func reserve(
    _ lines: [(product: String, quantity: Int64, warehouse: String)], order: String = UUID().uuidString.lowercased(),
    key: String = UUID().uuidString, ttl: Duration? = nil
  ) async throws -> CommerceV1.Reservation {
    try await inventory.reserveStock(
      .with {
        $0.orderId = order
        $0.lines = lines.map { line in
          .with {
            $0.productId = line.product
            $0.quantity = line.quantity
            $0.warehouseId = line.warehouse
          }
        }
        if let ttl { $0.ttl = .init(ttl) }
        $0.idempotencyKey = key
      }, options: orders
    ).reservation!
  }

  /// Checks the schema's invariant over every stock row, and returns the rows' reserved sum.
  func checkInvariant() async throws {
    let bad = try await pool.query("SELECT count(*) FROM inventory.stock WHERE reserved < 0 OR reserved > on_hand OR on_hand < 0")
    #expect(try bad.first!.decode(0, as: Int64.self) == 0)
  }
}
