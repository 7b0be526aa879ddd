import CommerceAPI
import CommerceAuth
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

@testable import CommerceCatalog

/// AuthService and CatalogService hosted as `emporium serve` hosts them (``TestApp``), with the
/// catalog's cache listener subscribed before the test starts.
struct CatalogHarness {
  let host: TestApp
  let service: CatalogService
  var app: EmporiumApp { host.app }
  var pool: PostgresPool { host.pool }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var auth: CommerceV1.AuthService.Client { .init(host.connection) }

  static func run<Result>(
    configure: @escaping @Sendable (inout CatalogService.Configuration) -> Void = { _ in },
    _ body: (CatalogHarness) async throws -> Result
  ) async throws -> Result {
    let made = Made<CatalogService>()
    let catalog = ServiceDeclaration(name: "catalog", schema: "catalog", migrations: CatalogService.migrations, peers: ["auth"]) {
      environment in
      var catalogConfiguration = CatalogService.Configuration()
      configure(&catalogConfiguration)
      let service = CatalogService(
        pool: environment.pool, auth: environment.peers.transport(for: "auth"), configuration: catalogConfiguration,
        logger: environment.logger)
      made.set(service)
      return HostedService(rpc: service, background: service.backgroundServices)
    }
    return try await TestApp.run("catalog", services: [AuthService.declaration, catalog]) { host in
      // Product pages are cached only once the invalidation listener is subscribed.
      #expect(await eventually { made.service.cache.isListening })
      return try await body(CatalogHarness(host: host, service: made.service))
    }
  }

  /// Waits until the catalog has applied the announcements of every write committed so far:
  /// their NOTIFYs still on their way would empty the caches a test is about to fill. A marker
  /// sent now arrives after them (NOTIFYs arrive in commit order).
  func settleAnnouncements() async throws {
    let marker = "marker:\(UUID())"
    try await pool.query("SELECT pg_notify('catalog_products', $1)", [marker])
    #expect(await eventually { service.lastAnnouncement == marker })
  }

  // MARK: Callers

  static func bearer(_ token: String) -> CallOptions { TestApp.bearer(token) }

  /// Call options of a user with `roles`, signed by the server's keys (the account need not
  /// exist for methods that do not look it up).
  func user(_ id: String = UUID().uuidString.lowercased(), roles: Set<CommerceV1.Role>) async throws -> CallOptions {
    try await host.user(id, roles: roles)
  }

  /// Call options of a service identity.
  func service(_ name: String) async throws -> CallOptions { try await host.service(name) }

  func admin() async throws -> CallOptions { try await user(roles: [.admin]) }

  /// A registered, approved seller: its user id and call options.
  func seller(_ business: String = "Acme Audio") async throws -> (id: String, options: CallOptions) {
    try await host.seller(business)
  }

  /// A registered user whose seller application is pending.
  func applicant() async throws -> CallOptions {
    let registered = try await auth.registerUser(.with {
      $0.email = "applicant-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      $0.password = "correct horse battery"
      $0.displayName = "Applicant"
      $0.sellerApplication = .with {
        $0.businessName = "Pending Co"
        $0.regionCode = "US"
      }
    })
    return try await user(registered.user!.userId, roles: [])
  }

  // MARK: Data

  @discardableResult
  func category(_ name: String, parent: String = "", slug: String? = nil) async throws -> CommerceV1.Category {
    try await catalog.createCategory(
      .with {
        $0.name = name
        $0.slug = slug ?? name.lowercased().replacingOccurrences(of: " ", with: "-") + "-" + UUID().uuidString.prefix(6).lowercased()
        $0.parentCategoryId = parent
      }, options: try await admin()
    ).category!
  }

  static func usd(_ minor: Int64) -> CommerceV1.Money { TestApp.usd(minor) }

  @discardableResult
  func product(
    _ title: String, seller: CallOptions, category: String, price: Int64 = 1999, details: String = "",
    attributes: [(String, String)] = [], status: CommerceV1.ProductStatus = .active, sku: String = ""
  ) async throws -> CommerceV1.Product {
    try await catalog.createProduct(
      .with {
        $0.product = .draft(
          title, category: category, price: price, status: status, details: details, attributes: attributes, sku: sku)
      }, options: seller
    ).product!
  }

  func search(_ configure: (inout CommerceV1.SearchProductsRequest) -> Void) async throws -> CommerceV1.SearchProductsResponse {
    var request = CommerceV1.SearchProductsRequest()
    configure(&request)
    return try await catalog.searchProducts(request)
  }
}
