import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import PostgresEmbedded
import RPC
import TestSupport
import Testing

/// Two `emporium serve` processes on one database: a product changed through one is seen by the
/// other's product cache within a second (LISTEN/NOTIFY).
@Suite("catalog cache across processes", .serialized)
struct CatalogCacheAcrossProcessesTests {
  @Test func aSecondProcessSeesAnUpdateWithinASecond() async throws {
    let database = try await TestCluster.createDatabase("catalog_cache_processes")
    let keys = NSTemporaryDirectory() + "emporium-keys-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: keys) }
    let writer = try await ServeCommandTests.startServer(databaseURL: database, extra: ["--keys-dir", keys], echo: false)
    defer { kill(writer.process.processIdentifier, SIGTERM) }
    let reader = try await ServeCommandTests.startServer(databaseURL: database, extra: ["--keys-dir", keys], echo: false)
    defer { kill(reader.process.processIdentifier, SIGTERM) }

    // Tokens signed with the servers' own keys.
    let tokens = await AccessTokens(keys: try AccessTokenKeySet.load(directory: keys).keys)
    func bearer(_ principal: Principal) async throws -> CallOptions {
      CallOptions(metadata: ["authorization": "Bearer " + (try await tokens.issue(for: principal, lifetime: .seconds(600)).token)])
    }
    let admin = try await bearer(Principal(kind: .user, subject: UUID().uuidString.lowercased(), roles: [.customer, .admin], expiresAt: 0))
    let adminService = try await bearer(Principal(kind: .service, subject: "admin", expiresAt: 0))

    let toWriter = try await RPCConnection.connect(host: "127.0.0.1", port: writer.port)
    let toReader = try await RPCConnection.connect(host: "127.0.0.1", port: reader.port)
    let auth = CommerceV1.AuthService.Client(toWriter)
    let catalog = CommerceV1.CatalogService.Client(toWriter)
    let readerCatalog = CommerceV1.CatalogService.Client(toReader)

    let seller = try await auth.registerUser(.with {
      $0.email = "cache-seller@example.com"
      $0.password = "correct horse battery"
      $0.displayName = "Seller"
      $0.sellerApplication = .with {
        $0.businessName = "Cache Co"
        $0.regionCode = "US"
      }
    }).user!
    _ = try await auth.assignRole(.with { $0.userId = seller.userId; $0.role = .seller }, options: adminService)
    let sellerOptions = try await bearer(Principal(kind: .user, subject: seller.userId, roles: [.customer, .seller], expiresAt: 0))
    let category = try await catalog.createCategory(.with { $0.name = "Clocks"; $0.slug = "clocks" }, options: admin).category!
    let product = try await catalog.createProduct(
      .with { $0.product = .draft("Wall Clock", category: category.categoryId, price: 2500) }, options: sellerOptions
    ).product!

    // Prove the reader serves the page from its cache: a change made behind the service's back
    // (no NOTIFY) stays invisible to it. Until its listener is subscribed it does not cache, so
    // an attempt may cache the changed title instead (its listener came up between the two
    // reads); each attempt therefore starts with an announced change, which makes the reader
    // forget whatever it cached, and waits until the reader shows it.
    let pool = try PostgresPool(configuration: .init(url: database, maximumConnections: 1))
    let id = product.productId
    #expect(try await eventually {
      try await pool.withTransaction { tx in
        try await tx.query("UPDATE catalog.products SET title = 'Wall Clock' WHERE id = $1::uuid", [id])
        try await tx.query("SELECT pg_notify('catalog_products', $1)", [id])
      }
      guard try await eventually(within: .seconds(5), { try await readerCatalog.getProduct(.with { $0.productId = id }).product?.title == "Wall Clock" })
      else { return false }
      try await pool.query("UPDATE catalog.products SET title = 'Changed Behind Its Back' WHERE id = $1::uuid", [id])
      return try await readerCatalog.getProduct(.with { $0.productId = id }).product?.title == "Wall Clock"
    })
    try await pool.query("UPDATE catalog.products SET title = 'Wall Clock' WHERE id = $1::uuid", [id])

    // An update through the other process reaches the reader's cache within a second.
    _ = try await catalog.updateProduct(
      .with {
        $0.product = .with {
          $0.productId = id
          $0.title = "Quiet Wall Clock"
        }
        $0.updatePaths = ["title"]
        $0.expectedVersion = 1
      }, options: sellerOptions)
    let updatedAt = ContinuousClock.now
    #expect(try await eventually(within: .seconds(5), every: .milliseconds(5)) {
      try await readerCatalog.getProduct(.with { $0.productId = id }).product?.title == "Quiet Wall Clock"
    })
    let seenAfter = ContinuousClock.now - updatedAt
    #expect(seenAfter < .seconds(1), "the reader saw the update after \(seenAfter)")
    await pool.close()
    await toWriter.close()
    await toReader.close()
  }
}
