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

@testable import CommerceCart

/// AuthService, CatalogService and CartService hosted as `emporium serve` hosts them
/// (EmporiumApp, a fresh migrated database, the auth interceptor, background work running),
/// with a client connection on 127.0.0.1. The cart reaches the catalog in-process, as it does
/// by default.
struct CartHarness {
  let app: EmporiumApp
  let service: CartService
  let cart: CommerceV1.CartService.Client
  let catalog: CommerceV1.CatalogService.Client
  let auth: CommerceV1.AuthService.Client
  let pool: PostgresPool
  /// A seller and a category every product of the test is created under.
  let seller: CallOptions
  let categoryID: String

  /// Where the declaration puts the cart service it makes.
  final class Made: Sendable {
    let service = Mutex<CartService?>(nil)
  }

  static func run<Result>(_ body: (CartHarness) async throws -> Result) async throws -> Result {
    let name = "cart_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    var configuration = EmporiumApp.Configuration(databaseURL: try await TestCluster.createDatabase(name))
    let made = Made()
    configuration.services = [
      AuthService.declaration,
      CatalogService.declaration,
      ServiceDeclaration(name: "cart", schema: "cart", migrations: CartService.migrations, peers: ["catalog"]) { environment in
        let service = CartService(pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), logger: environment.logger)
        made.service.withLock { $0 = service }
        return HostedService(rpc: service, background: service.backgroundServices)
      },
    ]
    configuration.settings["auth"] = ["bootstrap-admin": "off"]
    configuration.server.port = 0
    configuration.server.drainTimeout = .seconds(5)
    let logger = Logger(label: "cart-test")
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    do {
      let port = try await app.server.localAddress().port!
      let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
      let service = made.service.withLock { $0 }!
      let auth = CommerceV1.AuthService.Client(connection)
      let catalog = CommerceV1.CatalogService.Client(connection)
      let seller = try await Self.registerSeller(app: app, auth: auth)
      let category = try await catalog.createCategory(
        .with {
          $0.name = "Audio"
          $0.slug = "audio"
        }, options: try await Self.user(app: app, roles: [.admin])
      ).category!
      let harness = CartHarness(
        app: app, service: service, cart: .init(connection), catalog: catalog, auth: auth, pool: app.pool, seller: seller,
        categoryID: category.categoryId)
      let result = try await body(harness)
      await connection.close()
      await group.triggerGracefulShutdown()
      try await running.value
      await app.close()
      return result
    } catch {
      await group.triggerGracefulShutdown()
      _ = try? await running.value
      await app.close()
      throw error
    }
  }

  // MARK: Callers

  static func bearer(_ token: String) -> CallOptions {
    CallOptions(metadata: ["authorization": "Bearer " + token])
  }

  static func user(app: EmporiumApp, id: String = UUID().uuidString.lowercased(), roles: Set<CommerceV1.Role>) async throws -> CallOptions {
    let token = try await app.tokens.issue(
      for: Principal(kind: .user, subject: id, roles: roles.union([.customer]), expiresAt: 0), lifetime: .seconds(3600)
    ).token
    return bearer(token)
  }

  /// Call options of a customer with a new id (the account need not exist), and the id.
  func customer() async throws -> (id: String, options: CallOptions) {
    let id = UUID().uuidString.lowercased()
    return (id, try await Self.user(app: app, id: id, roles: []))
  }

  /// Call options of a service identity, optionally acting for a user (`x-on-behalf-of`).
  func service(_ name: String, onBehalfOf user: CallOptions? = nil) async throws -> CallOptions {
    var options = Self.bearer(try await app.tokens.issue(for: Principal(kind: .service, subject: name, expiresAt: 0), lifetime: .seconds(3600)).token)
    if let user, let token = user.metadata["authorization"]?.dropFirst("Bearer ".count) {
      options.metadata.replace(AuthInterceptor.onBehalfOfKey, String(token))
    }
    return options
  }

  private static func registerSeller(app: EmporiumApp, auth: CommerceV1.AuthService.Client) async throws -> CallOptions {
    let registered = try await auth.registerUser(.with {
      $0.email = "seller-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      $0.password = "correct horse battery"
      $0.displayName = "Seller"
      $0.sellerApplication = .with {
        $0.businessName = "Acme Audio"
        $0.regionCode = "US"
      }
    })
    let id = registered.user!.userId
    let admin = bearer(try await app.tokens.issue(for: Principal(kind: .service, subject: "admin", expiresAt: 0), lifetime: .seconds(3600)).token)
    _ = try await auth.assignRole(
      .with {
        $0.userId = id
        $0.role = .seller
      }, options: admin)
    return try await user(app: app, id: id, roles: [.seller])
  }

  // MARK: Data

  static func usd(_ minor: Int64) -> CommerceV1.Money {
    .with {
      $0.amountMinor = minor
      $0.currency = "USD"
    }
  }

  /// A product of the harness's seller.
  @discardableResult
  func product(_ title: String = "Headphones", price: Int64 = 1999, status: CommerceV1.ProductStatus = .active) async throws
    -> CommerceV1.Product
  {
    try await catalog.createProduct(
      .with {
        $0.product = .with {
          $0.title = title
          $0.categoryId = categoryID
          $0.price = Self.usd(price)
          $0.status = status
        }
      }, options: seller
    ).product!
  }

  /// `count` active products, made concurrently, in creation order.
  func products(_ count: Int, price: Int64 = 1000) async throws -> [CommerceV1.Product] {
    try await withThrowingTaskGroup(of: (Int, CommerceV1.Product).self) { group in
      for index in 0..<count {
        group.addTask { (index, try await product("Item \(index)", price: price + Int64(index))) }
      }
      var made: [(Int, CommerceV1.Product)] = []
      for try await item in group { made.append(item) }
      return made.sorted { $0.0 < $1.0 }.map(\.1)
    }
  }

  /// Changes a product's price through UpdateProduct.
  func setPrice(_ product: CommerceV1.Product, _ minor: Int64) async throws -> CommerceV1.Product {
    let current = try await catalog.getProduct(.with { $0.productId = product.productId }).product!
    return try await catalog.updateProduct(
      .with {
        $0.product = .with {
          $0.productId = product.productId
          $0.price = Self.usd(minor)
        }
        $0.updatePaths = ["price"]
        $0.expectedVersion = current.version
      }, options: seller
    ).product!
  }

  /// Archives a product.
  func archive(_ product: CommerceV1.Product) async throws {
    let current = try await catalog.getProduct(.with { $0.productId = product.productId }).product!
    _ = try await catalog.archiveProduct(
      .with {
        $0.productId = product.productId
        $0.expectedVersion = current.version
      }, options: seller)
  }

  /// Reports a product's available stock as InventoryService does.
  func setStock(_ product: CommerceV1.Product, available: Int64, version: Int64) async throws {
    _ = try await catalog.recordStockLevels(
      .with {
        $0.levels = [
          .with {
            $0.productId = product.productId
            $0.availableQuantity = available
            $0.version = version
          }
        ]
      }, options: try await service("inventory"))
  }

  // MARK: Cart calls

  @discardableResult
  func add(
    _ product: CommerceV1.Product, quantity: Int32 = 1, guest: String = "", key: String = "", as options: CallOptions = .init()
  ) async throws -> CommerceV1.Cart {
    try await cart.addCartItem(
      .with {
        $0.guestCartId = guest
        $0.productId = product.productId
        $0.quantity = quantity
        $0.idempotencyKey = key
      }, options: options
    ).cart!
  }

  func get(guest: String = "", as options: CallOptions = .init()) async throws -> CommerceV1.Cart {
    try await cart.getCart(.with { $0.guestCartId = guest }, options: options).cart!
  }
}

extension CommerceV1.Cart {
  /// Quantities by product id.
  var quantities: [String: Int32] { Dictionary(uniqueKeysWithValues: items.map { ($0.productId, $0.quantity) }) }
}
