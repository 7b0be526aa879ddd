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
/// (``TestApp``). The cart reaches the catalog in-process, as it does by default.
struct CartHarness {
  let host: TestApp
  let service: CartService
  /// A seller and a category every product of the test is created under.
  let seller: CallOptions
  let categoryID: String
  var app: EmporiumApp { host.app }
  var pool: PostgresPool { host.pool }
  var cart: CommerceV1.CartService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var auth: CommerceV1.AuthService.Client { .init(host.connection) }

  static func run<Result>(_ body: (CartHarness) async throws -> Result) async throws -> Result {
    let made = Made<CartService>()
    let cart = ServiceDeclaration(name: "cart", schema: "cart", migrations: CartService.migrations, peers: ["catalog"]) { environment in
      let service = CartService(pool: environment.pool, catalog: environment.peers.transport(for: "catalog"), logger: environment.logger)
      made.set(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
    return try await TestApp.run("cart", services: [AuthService.declaration, CatalogService.declaration, cart]) { host in
      let seller = try await host.seller()
      let category = try await CommerceV1.CatalogService.Client(host.connection).createCategory(
        .with {
          $0.name = "Audio"
          $0.slug = "audio"
        }, options: try await host.user(roles: [.admin])
      ).category!
      return try await body(CartHarness(host: host, service: made.service, seller: seller.options, categoryID: category.categoryId))
    }
  }

  // MARK: Callers

  static func bearer(_ token: String) -> CallOptions { TestApp.bearer(token) }

  /// Call options of a customer with a new id (the account need not exist), and the id.
  func customer() async throws -> (id: String, options: CallOptions) {
    let id = UUID().uuidString.lowercased()
    return (id, try await host.user(id, roles: []))
  }

  /// Call options of a service identity, optionally acting for a user (`x-on-behalf-of`).
  func service(_ name: String, onBehalfOf user: CallOptions? = nil) async throws -> CallOptions {
    try await host.service(name, onBehalfOf: user)
  }

  // MARK: Data

  static func usd(_ minor: Int64) -> CommerceV1.Money { TestApp.usd(minor) }

  /// A product of the harness's seller.
  @discardableResult
  func product(_ title: String = "Headphones", price: Int64 = 1999, status: CommerceV1.ProductStatus = .active) async throws
    -> CommerceV1.Product
  {
    try await catalog.createProduct(
      .with { $0.product = .draft(title, category: categoryID, price: price, status: status) }, options: seller
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
