import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import RPC
import TestSupport
import Testing

/// Recommendations learnt from real checkouts: OrderService's outbox relay sends each
/// confirmed order to the catalog, and a customer's own cart feeds PERSONALIZED.
@Suite("Recommendations from checkouts")
struct CheckoutRecommendationTests {
  @Test func confirmedCheckoutsReachRecommendationsThroughTheRelay() async throws {
    try await TestApp.run("recs", services: ServiceCatalog.all) { host in
      let catalog = CommerceV1.CatalogService.Client(host.connection)
      let orders = CommerceV1.OrderService.Client(host.connection)
      let admin = try await host.user(roles: [.admin])
      let seller = try await host.seller()
      let category = try await host.category(admin: admin)
      let warehouse = try await host.warehouse(admin: admin)
      func make(_ title: String) async throws -> String {
        try await host.product(title, category: category, warehouse: warehouse, stock: 100, seller: seller.options).productId
      }
      let camera = try await make("Camera")
      let lens = try await make("Lens")
      let tripod = try await make("Tripod")
      func customer() async throws -> (id: String, options: CallOptions) {
        let registered = try await CommerceV1.AuthService.Client(host.connection).registerUser(
          .with {
            $0.email = "buyer-\(UUID().uuidString.prefix(8).lowercased())@example.com"
            $0.password = "correct horse battery"
            $0.displayName = "Buyer"
          })
        let id = registered.user!.userId
        return (id, try await host.user(id, roles: [.customer]))
      }
      let first = try await customer()
      let second = try await customer()
      for buyer in [first, second] {
        let order = try await orders.checkout(TestApp.checkout([(camera, 1), (lens, 2)]), options: buyer.options).order!
        #expect(order.status == .confirmed)
      }
      // The relay delivers both orders: camera and lens are a pair of support 2.
      #expect(
        try await eventually {
          try await catalog.getRecommendations(.with { $0.anchor = .productId(camera) }).products.map(\.productId) == [lens]
        })
      let fromLens = try await catalog.getRecommendations(.with { $0.anchor = .productId(lens) })
      #expect(fromLens.appliedKind == .alsoBought && fromLens.products.map(\.productId) == [camera])

      // The buyers bought both: nothing left to pair, so best sellers (neither of the two).
      let own = try await catalog.getRecommendations(.with { $0.anchor = .userId(first.id) }, options: first.options)
      #expect(own.appliedKind == .trending && own.products.isEmpty)

      // A customer with the camera and the tripod in the cart gets the lens (bought with the
      // camera), and neither product of the cart back.
      let browser = try await customer()
      let carts = CommerceV1.CartService.Client(host.connection)
      for product in [camera, tripod] {
        _ = try await carts.addCartItem(
          .with {
            $0.productId = product
            $0.quantity = 1
          }, options: browser.options)
      }
      let withCart = try await catalog.getRecommendations(.with { $0.anchor = .userId(browser.id) }, options: browser.options)
      #expect(withCart.appliedKind == .personalized)
      #expect(withCart.products.map(\.productId) == [lens])
    }
  }
}
