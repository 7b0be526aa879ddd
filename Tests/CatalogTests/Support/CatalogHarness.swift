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

/// AuthService and CatalogService hosted as `emporium serve` hosts them (EmporiumApp, a fresh
/// migrated database, the auth interceptor, the cache listener and reindex worker running),
/// with a client connection on 127.0.0.1.
struct CatalogHarness {
  let app: EmporiumApp
  let service: CatalogService
  let catalog: CommerceV1.CatalogService.Client
  let auth: CommerceV1.AuthService.Client
  let pool: PostgresPool

  /// Where the declaration puts the catalog it makes.
  final class Made: Sendable {
    let service = Mutex<CatalogService?>(nil)
  }

  static func run<Result>(
    configure: @escaping @Sendable (inout CatalogService.Configuration) -> Void = { _ in },
    _ body: (CatalogHarness) async throws -> Result
  ) async throws -> Result {
    let name = "catalog_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    var configuration = EmporiumApp.Configuration(databaseURL: try await TestCluster.createDatabase(name))
    let made = Made()
    configuration.services = [
      AuthService.declaration,
      ServiceDeclaration(name: "catalog", schema: "catalog", migrations: CatalogService.migrations, peers: ["auth"]) { environment in
        var catalogConfiguration = CatalogService.Configuration()
        configure(&catalogConfiguration)
        let service = CatalogService(
          pool: environment.pool, auth: environment.peers.transport(for: "auth"), configuration: catalogConfiguration,
          logger: environment.logger)
        made.service.withLock { $0 = service }
        return HostedService(rpc: service, background: service.backgroundServices)
      },
    ]
    configuration.settings["auth"] = ["bootstrap-admin": "off"]
    configuration.server.port = 0
    configuration.server.drainTimeout = .seconds(5)
    let logger = Logger(label: "catalog-test")
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(
      configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    do {
      let port = try await app.server.localAddress().port!
      let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
      let service = made.service.withLock { $0 }!
      // Product pages are cached only once the invalidation listener is subscribed.
      #expect(await eventually { service.cache.isListening })
      let harness = CatalogHarness(
        app: app, service: service, catalog: .init(connection), auth: .init(connection), pool: app.pool)
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

  /// Call options of a user with `roles`, signed by the server's keys (the account need not
  /// exist for methods that do not look it up).
  func user(_ id: String = UUID().uuidString.lowercased(), roles: Set<CommerceV1.Role>) async throws -> CallOptions {
    let token = try await app.tokens.issue(
      for: Principal(kind: .user, subject: id, roles: roles.union([.customer]), expiresAt: 0), lifetime: .seconds(3600)
    ).token
    return Self.bearer(token)
  }

  /// Call options of a service identity.
  func service(_ name: String) async throws -> CallOptions {
    Self.bearer(try await app.tokens.issue(for: Principal(kind: .service, subject: name, expiresAt: 0), lifetime: .seconds(3600)).token)
  }

  func admin() async throws -> CallOptions { try await user(roles: [.admin]) }

  /// A registered, approved seller: its user id and call options.
  func seller(_ business: String = "Acme Audio") async throws -> (id: String, options: CallOptions) {
    let registered = try await auth.registerUser(.with {
      $0.email = "seller-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      $0.password = "correct horse battery"
      $0.displayName = "Seller"
      $0.sellerApplication = .with {
        $0.businessName = business
        $0.regionCode = "US"
      }
    })
    let id = registered.user!.userId
    _ = try await auth.assignRole(
      .with {
        $0.userId = id
        $0.role = .seller
      }, options: try await service("admin"))
    return (id, try await user(id, roles: [.seller]))
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

  static func usd(_ minor: Int64) -> CommerceV1.Money {
    .with {
      $0.amountMinor = minor
      $0.currency = "USD"
    }
  }

  @discardableResult
  func product(
    _ title: String, seller: CallOptions, category: String, price: Int64 = 1999, details: String = "",
    attributes: [(String, String)] = [], status: CommerceV1.ProductStatus = .active, sku: String = ""
  ) async throws -> CommerceV1.Product {
    try await catalog.createProduct(
      .with {
        $0.product = .with {
          $0.title = title
          $0.details = details
          $0.categoryId = category
          $0.price = Self.usd(price)
          $0.status = status
          $0.sku = sku
          $0.attributes = attributes.map { name, value in
            .with {
              $0.name = name
              $0.value = value
            }
          }
        }
      }, options: seller
    ).product!
  }

  func search(_ configure: (inout CommerceV1.SearchProductsRequest) -> Void) async throws -> CommerceV1.SearchProductsResponse {
    var request = CommerceV1.SearchProductsRequest()
    configure(&request)
    return try await catalog.searchProducts(request)
  }
}
