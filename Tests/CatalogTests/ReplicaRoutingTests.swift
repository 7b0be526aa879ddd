import CommerceAPI
import CommerceAuth
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import Postgres
import PostgresEmbedded
import RPC
import TestSupport
import Testing

@testable import CommerceCatalog

/// CatalogService with a streaming replica (``ReadReplica``), as `emporium serve
/// --database-replica-url` runs it: a primary and a hot standby from the embedded launcher.
@Suite("Catalog on a read replica")
struct ReplicaRoutingTests {
  /// Runs `body` against AuthService and CatalogService on a fresh primary with a streaming
  /// replica.
  static func run(_ body: (TestApp, ReadReplica) async throws -> Void) async throws {
    try await ReplicaHarness.run("catalog_replica", services: [AuthService.declaration, CatalogService.declaration], body)
  }

  static func awaitCaughtUp(_ replica: ReadReplica) async throws { try await ReplicaHarness.awaitCaughtUp(replica) }

  static func setReplay(paused: Bool, on replica: ReadReplica) async throws {
    try await ReplicaHarness.setReplay(paused: paused, on: replica)
  }

  static func search(_ catalog: CommerceV1.CatalogService.Client, _ query: String, options: CallOptions = .init()) async throws
    -> [String]
  {
    try await catalog.searchProducts(.with { $0.query = query }, options: options).products.map(\.title)
  }

  /// Lists an active product for `seller` through `catalog`; the created product.
  @discardableResult
  static func list(
    _ title: String, price: Int64, category: String, seller: (id: String, options: CallOptions),
    through catalog: CommerceV1.CatalogService.Client
  ) async throws -> CommerceV1.CreateProductResponse {
    try await catalog.createProduct(
      .with { $0.product = .draft(title, category: category, price: price) }, options: seller.options)
  }

  @Test("searches are served by the replica: a product only the primary has is not found while replay is paused")
  func searchesReadTheReplica() async throws {
    try await Self.run { host, replica in
      let catalog = CommerceV1.CatalogService.Client(host.connection)
      let admin = try await host.user(roles: [.admin])
      let category = try await host.category("Furniture", admin: admin)
      let seller = try await host.seller("Oak and Iron")
      _ = try await Self.list("Walnut Desk", price: 45_000, category: category, seller: seller, through: catalog)
      try await Self.awaitCaughtUp(replica)

      // An anonymous search runs its statements on the replica's pool.
      let before = (replica.statistics, replica.replica.metrics.queriesSucceeded, host.pool.metrics.queriesSucceeded)
      #expect(try await Self.search(catalog, "walnut") == ["Walnut Desk"])
      #expect(replica.statistics.replicaReads > before.0.replicaReads)
      #expect(replica.statistics.primaryReads == before.0.primaryReads)
      #expect(replica.replica.metrics.queriesSucceeded >= before.1 + 2, "the correction and the page ran on the replica")

      // With replay paused, a product written on the primary is not in what the replica serves.
      try await Self.setReplay(paused: true, on: replica)
      _ = try await Self.list("Walnut Shelf", price: 9_000, category: category, seller: seller, through: catalog)
      #expect(try await Self.search(catalog, "shelf") == [], "an anonymous search was served by the primary")

      // Once replay resumes, the replica has it too.
      try await Self.setReplay(paused: false, on: replica)
      let arrived = await eventually { (try? await Self.search(catalog, "shelf")) == ["Walnut Shelf"] }
      #expect(arrived)
    }
  }

  @Test("a seller reads its own writes while the replica lags; another caller may read the replica's stale rows")
  func readYourWrites() async throws {
    try await Self.run { host, replica in
      let catalog = CommerceV1.CatalogService.Client(host.connection)
      let admin = try await host.user(roles: [.admin])
      let category = try await host.category("Lamps", admin: admin)
      let seller = try await host.seller("Bright Ideas")
      let lamp = try await Self.list("Brass Lamp", price: 5_000, category: category, seller: seller, through: catalog).product!
      try await Self.awaitCaughtUp(replica)
      try await Self.setReplay(paused: true, on: replica)

      // The seller changes the price and adds a product while the replica replays nothing.
      _ = try await catalog.updateProduct(
        .with {
          $0.product = .with {
            $0.productId = lamp.productId
            $0.price = TestApp.usd(6_500)
          }
          $0.updatePaths = ["price"]
          $0.expectedVersion = lamp.version
        }, options: seller.options)
      _ = try await Self.list("Copper Lamp", price: 7_000, category: category, seller: seller, through: catalog)

      // An admin, who wrote nothing, is served the lagging replica's page; it is not cached.
      let stale = try await catalog.getProduct(.with { $0.productId = lamp.productId }, options: admin)
      #expect(stale.product?.price?.amountMinor == 5_000)

      // The seller's next reads see both changes: they go to the primary until the replica has
      // them.
      let primaryReads = replica.statistics.primaryReads
      let page = try await catalog.getProduct(.with { $0.productId = lamp.productId }, options: seller.options)
      #expect(page.product?.price?.amountMinor == 6_500)
      let own = try await catalog.listSellerProducts(.init(), options: seller.options).products
      #expect(Set(own.map(\.title)) == ["Brass Lamp", "Copper Lamp"])
      #expect(own.first { $0.title == "Brass Lamp" }?.price?.amountMinor == 6_500)
      #expect(try await Self.search(catalog, "copper", options: seller.options) == ["Copper Lamp"])
      #expect(replica.statistics.primaryReads >= primaryReads + 3)
      #expect(replica.statistics.marks >= 1)

      // The admin reads the seller's list from the lagging replica too.
      let listed = try await catalog.listSellerProducts(.with { $0.sellerId = seller.id }, options: admin).products
      #expect(listed.map(\.title) == ["Brass Lamp"])
      #expect(listed.first?.price?.amountMinor == 5_000)

      // Once the replica has replayed the seller's writes, its reads go to the replica again and
      // the mark is forgotten.
      try await Self.setReplay(paused: false, on: replica)
      let caughtUp = await eventually {
        let titles = (try? await catalog.listSellerProducts(.with { $0.sellerId = seller.id }, options: admin).products.map(\.title))
        return Set(titles ?? []) == ["Brass Lamp", "Copper Lamp"]
      }
      #expect(caughtUp)
      let replicaReads = replica.statistics.replicaReads
      let again = try await catalog.listSellerProducts(.init(), options: seller.options).products
      #expect(again.count == 2)
      #expect(replica.statistics.replicaReads == replicaReads + 1)
      #expect(replica.statistics.marks == 0)
    }
  }
}
