import CommerceAPI
import CommerceAuth
import CommerceCatalog
import CommerceKit
import EmporiumApp
import Foundation
import Logging
import Messages
import NIOCore
import Postgres
import PostgresEmbedded
import RPC
import ServiceLifecycle
import Testing

@testable import EmporiumSeed

@Suite("Loading a seed data set into PostgreSQL")
struct SeedLoadTests {
  static let configuration = SeedConfiguration(products: 400, users: 60, sellers: 5, seed: 2024)

  /// Seeds a new database; returns its URL and the manifest.
  static func seed(_ configuration: SeedConfiguration) async throws -> (url: String, manifest: SeedManifest) {
    let name = "seed_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    let url = try await TestCluster.createDatabase(name)
    let pool = try PostgresPool(configuration: .init(url: url, maximumConnections: 4))
    do {
      let manifest = try await Seeder.run(SeedGenerator(configuration), pool: pool, logger: Logger(label: "seed-test"))
      await pool.close()
      return (url, manifest)
    } catch {
      await pool.close()
      throw error
    }
  }

  static func withPool<T>(_ url: String, _ body: (PostgresPool) async throws -> T) async throws -> T {
    let pool = try PostgresPool(configuration: .init(url: url, maximumConnections: 2))
    do {
      let result = try await body(pool)
      await pool.close()
      return result
    } catch {
      await pool.close()
      throw error
    }
  }

  static func count(_ pool: PostgresPool, _ sql: String) async throws -> Int64 {
    try await pool.query(sql).scalar(as: Int64.self) ?? -1
  }

  /// Every row of the tables the seed fills, as text, in a stable order (what "the same rows"
  /// means).
  static func dump(_ pool: PostgresPool) async throws -> [String: String] {
    var dump: [String: String] = [:]
    for (table, key) in [
      ("catalog.products", "id"), ("catalog.categories", "id"), ("catalog.sellers", "id"), ("auth.accounts", "id"),
      ("catalog.search_words", "word"),
    ] {
      dump[table] = try await pool.query("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t.\(key)), '') FROM \(table) t")
        .scalar(as: String.self)
    }
    dump["catalog.search_documents"] = try await pool.query(
      """
      SELECT string_agg(concat_ws('|', product_id, title, price_minor, category_path, attributes, document), E'\\n' ORDER BY product_id)
      FROM catalog.search_documents
      """
    ).scalar(as: String.self)
    return dump
  }

  @Test("loads the counts asked for; the same seed twice gives the same manifest and rows")
  func countsAndDeterminism() async throws {
    let (first, manifest) = try await Self.seed(Self.configuration)
    let (second, again) = try await Self.seed(Self.configuration)
    #expect(try manifest.json() == again.json())
    let (firstRows, counts) = try await Self.withPool(first) { pool in
      (
        try await Self.dump(pool),
        [
          try await Self.count(pool, "SELECT count(*) FROM catalog.products WHERE status = 'ACTIVE'"),
          try await Self.count(pool, "SELECT count(*) FROM catalog.search_documents"),
          try await Self.count(pool, "SELECT count(*) FROM catalog.sellers"),
          try await Self.count(pool, "SELECT count(*) FROM catalog.categories"),
          try await Self.count(pool, "SELECT count(*) FROM auth.accounts"),
          try await Self.count(pool, "SELECT count(*) FROM auth.accounts WHERE 'SELLER' = ANY (roles) AND seller_status = 'APPROVED'"),
          try await Self.count(pool, "SELECT count(*) FROM auth.accounts WHERE 'ADMIN' = ANY (roles)"),
          try await Self.count(pool, "SELECT count(*) FROM auth.accounts WHERE 'DELIVERY_PARTNER' = ANY (roles)"),
          try await Self.count(pool, "SELECT count(*) FROM catalog.search_words"),
          try await Self.count(pool, "SELECT count(DISTINCT password_hash) FROM auth.accounts"),
          // Each seller's count of active products, as product pages show it, matches a count of
          // the rows: the number of sellers where it does not.
          try await Self.count(
            pool,
            """
            SELECT count(*) FROM catalog.sellers s
            WHERE s.active_products <> (SELECT count(*) FROM catalog.products p WHERE p.seller_id = s.id AND p.status = 'ACTIVE')
            """),
        ]
      )
    }
    #expect(
      counts == [
        400, 400, 5, Int64(manifest.counts.categories), 65, 5, 1, 1, counts[8] > 300 ? counts[8] : -1, 4, 0,
      ])
    let secondRows = try await Self.withPool(second) { try await Self.dump($0) }
    #expect(firstRows.keys.sorted() == secondRows.keys.sorted())
    for (table, rows) in firstRows {
      #expect(!rows.isEmpty, "\(table) is empty")
      #expect(rows == secondRows[table], "\(table) differs between two loads of the same seed")
    }
    // The manifest names what was loaded.
    try await Self.withPool(first) { (pool: PostgresPool) async throws -> Void in
      let ids = try await pool.query("SELECT id::text FROM catalog.products").map { try $0.decode(0, as: String.self) }
      #expect(Set(ids) == Set(manifest.productIds))
      let sellers = try await pool.query("SELECT id::text FROM catalog.sellers").map { try $0.decode(0, as: String.self) }
      #expect(Set(sellers) == Set(manifest.sellerIds))
      let categories = try await pool.query("SELECT id::text FROM catalog.categories").map { try $0.decode(0, as: String.self) }
      #expect(Set(categories) == Set(manifest.categoryIds))
    }
  }

  @Test("a second load into the same database is refused and changes nothing")
  func refusesNonEmpty() async throws {
    let (url, _) = try await Self.seed(SeedConfiguration(products: 20, users: 3, sellers: 1, seed: 5))
    await #expect(throws: (any Error).self) {
      try await Self.withPool(url) { (pool: PostgresPool) async throws -> Void in
        _ = try await Seeder.run(
          SeedGenerator(SeedConfiguration(products: 20, users: 0, sellers: 1, seed: 6)), pool: pool, logger: Logger(label: "seed-test"))
      }
    }
    try await Self.withPool(url) { (pool: PostgresPool) async throws -> Void in
      #expect(try await Self.count(pool, "SELECT count(*) FROM catalog.products") == 20)
      #expect(try await Self.count(pool, "SELECT count(*) FROM auth.accounts") == 4)
    }
  }

  @Test("seeded users log in with the manifest's passwords; search finds seeded products; facets match the rows")
  func servicesUseTheData() async throws {
    let (url, manifest) = try await Self.seed(Self.configuration)
    var configuration = EmporiumApp.Configuration(databaseURL: url)
    configuration.settings["auth"] = ["bootstrap-admin": "off"]
    configuration.server.port = 0
    configuration.server.drainTimeout = .seconds(5)
    let logger = Logger(label: "seed-test")
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    defer { Task { await group.triggerGracefulShutdown() } }
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: try await app.server.localAddress().port!)
    let auth = CommerceV1.AuthService.Client(connection)
    let catalog = CommerceV1.CatalogService.Client(connection)

    // One account of each role logs in and holds its role.
    for role in ["CUSTOMER", "SELLER", "ADMIN", "DELIVERY_PARTNER"] {
      let user = try #require(manifest.users.first { $0.role == role })
      let response = try await auth.login(.with {
        $0.email = user.email
        $0.password = user.password
      })
      #expect(response.user?.userId == user.id)
      #expect(response.user?.roles.map(\.ruleName).contains(role) == true, "\(role)")
      #expect(response.tokens?.accessToken.isEmpty == false)
    }
    let wrong = try #require(manifest.users.first)
    await #expect(throws: RPCError.self) {
      _ = try await auth.login(.with {
        $0.email = wrong.email
        $0.password = wrong.password + "x"
      })
    }

    // A product's own title finds it first.
    let generator = SeedGenerator(Self.configuration)
    let product = generator.product(17)
    let byTitle = try await catalog.searchProducts(.with {
      $0.query = product.title
      $0.pageSize = 10
    })
    #expect(byTitle.products.first?.productId == product.id.uuidString.lowercased())

    // A brand finds as many products as hold it, and the category facet counts agree with
    // the rows.
    let search = try await catalog.searchProducts(.with {
      $0.query = product.attributes.first { $0.name == "brand" }!.value
      $0.pageSize = 50
      $0.includeFacets = true
      $0.facetAttributeNames = ["brand", "color"]
    })
    let brand = product.attributes.first { $0.name == "brand" }!.value
    let facets = try #require(search.facets)
    try await Self.withPool(url) { (pool: PostgresPool) async throws -> Void in
      let matching = try await Self.count(
        pool,
        """
        SELECT count(*) FROM catalog.search_documents
        WHERE document @@ plainto_tsquery('catalog.search', '\(brand.replacingOccurrences(of: "'", with: "''"))')
        """)
      #expect(matching > 0)
      #expect(search.estimatedTotalCount == matching)
      #expect(search.products.count == min(50, Int(matching)))
      // Every category in the facet is a real category, and its count is its products' (its
      // descendants' included) among the matches.
      let known = Set(manifest.categoryIds)
      for value in facets.categories {
        #expect(known.contains(value.value))
        let rows = try await Self.count(
          pool,
          """
          SELECT count(*) FROM catalog.search_documents
          WHERE document @@ plainto_tsquery('catalog.search', '\(brand.replacingOccurrences(of: "'", with: "''"))')
            AND '\(value.value)'::uuid = ANY (category_path)
          """)
        #expect(value.count == rows, "category \(value.label)")
      }
      #expect(!facets.categories.isEmpty)
      let colors = facets.attributes.first { $0.name == "color" }
      #expect(colors?.values.isEmpty == false)
    }

    // Browsing a leaf category lists exactly its products.
    let leaf = product.categoryID.uuidString.lowercased()
    let browse = try await catalog.searchProducts(.with {
      $0.categoryIds = [leaf]
      $0.pageSize = 100
    })
    let inLeaf = Array(generator.products).filter { $0.categoryID == product.categoryID }.map { $0.id.uuidString.lowercased() }
    #expect(Set(browse.products.map(\.productId)) == Set(inLeaf.prefix(100)).union(browse.products.map(\.productId)))
    #expect(browse.estimatedTotalCount == Int64(inLeaf.count))

    await connection.close()
    await group.triggerGracefulShutdown()
    try await running.value
    await app.close()
  }
}
