import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import RPC
import Testing

/// Every service hosted as `emporium serve` hosts it (``TestApp`` with ``ServiceCatalog/all``:
/// the in-process sandbox provider answers test cards at once), with a seller, a category, a
/// warehouse, an admin and the AdminService identity, and a way to get an order delivered.
struct ReviewHarness {
  let host: TestApp
  let seller: CallOptions
  let sellerID: String
  let categoryID: String
  let warehouseID: String
  let admin: CallOptions
  let moderator: CallOptions
  var reviews: CommerceV1.ReviewService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var orders: CommerceV1.OrderService.Client { .init(host.connection) }

  static func run(_ body: (ReviewHarness) async throws -> Void) async throws {
    try await TestApp.run("reviews", services: ServiceCatalog.all) { host in
      let admin = try await host.user(roles: [.admin])
      let seller = try await host.seller()
      let category = try await host.category(admin: admin)
      let warehouse = try await host.warehouse(admin: admin)
      try await body(
        ReviewHarness(
          host: host, seller: seller.options, sellerID: seller.id, categoryID: category, warehouseID: warehouse,
          admin: admin, moderator: try await host.service("admin")))
    }
  }

  /// An active product of the harness's seller (or of `seller`) with plenty of stock.
  func product(title: String = "Headphones", seller: CallOptions? = nil) async throws -> String {
    try await host.product(title, category: categoryID, warehouse: warehouseID, stock: 1000, seller: seller ?? self.seller).productId
  }

  /// A registered customer: id and call options.
  func customer(_ name: String = "Ada") async throws -> (id: String, options: CallOptions) {
    let registered = try await CommerceV1.AuthService.Client(host.connection).registerUser(
      .with {
        $0.email = "\(name.lowercased())-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        $0.password = "correct horse battery"
        $0.displayName = name
      })
    let id = registered.user!.userId
    return (id, try await host.user(id, roles: [.customer]))
  }

  /// Checks out one unit of each product for the customer and returns the order, CONFIRMED;
  /// with `deliver`, the shipping identity then packs, ships and delivers it.
  @discardableResult
  func order(_ products: [String], for customer: CallOptions, deliver: Bool = true) async throws -> CommerceV1.Order {
    let order = try await orders.checkout(TestApp.checkout(products.map { ($0, 1) }), options: customer).order!
    #expect(order.status == .confirmed)
    guard deliver else { return order }
    let delivered = try await host.deliver(order)
    #expect(delivered.status == .delivered)
    return delivered
  }

  /// A review request of `product`.
  static func review(_ product: String, rating: Int32, title: String = "Great sound", body: String = "Clear highs.", key: String = UUID().uuidString)
    -> CommerceV1.CreateReviewRequest
  {
    .with {
      $0.productId = product
      $0.rating = rating
      $0.title = title
      $0.body = body
      $0.idempotencyKey = key
    }
  }

  func summary(_ product: String) async throws -> CommerceV1.RatingSummary {
    try await reviews.getRatingSummary(.with { $0.productId = product }).summary!
  }
}
