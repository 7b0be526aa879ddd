import CommerceAPI
import CommerceInventory
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Logging
import Messages
import Postgres
import PostgresEmbedded
import RPC
import TestSupport
import Testing

@testable import EmporiumSeed

@Suite("Seeding stock through InventoryService's bulk load")
struct SeedStockTests {
  static let configuration = SeedConfiguration(products: 200, users: 4, sellers: 3, seed: 77)

  /// The stock rows as stored: (product, warehouse, on hand, reserved, version), in key order.
  static func stockRows(_ pool: PostgresPool) async throws -> [String] {
    try await pool.query(
      """
      SELECT product_id || '|' || warehouse_id || '|' || on_hand || '|' || reserved || '|' || version FROM inventory.stock
      ORDER BY product_id, warehouse_id
      """
    ).map { try $0.decode(0, as: String.self) }
  }

  /// Every row of the inventory tables the seed fills, as text, in a stable order.
  static func dump(_ pool: PostgresPool) async throws -> [String: String] {
    var dump: [String: String] = [:]
    for (table, order) in [
      ("inventory.warehouses", "t.id"), ("inventory.stock", "t.product_id, t.warehouse_id"),
      ("inventory.stock_ledger", "t.product_id, t.warehouse_id"),
    ] {
      dump[table] = try await pool.query("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY \(order)), '') FROM \(table) t")
        .scalar(as: String.self)
    }
    dump["inventory.outbox"] = try await pool.query(
      """
      SELECT string_agg(concat_ws('|', topic, aggregate_id, encode(payload, 'hex'), published_at), E'\\n' ORDER BY id)
      FROM inventory.outbox
      """
    ).scalar(as: String.self)
    return dump
  }

  @Test("stock rows, ledger and events are the generator's, the same for the same seed; the manifest sums them")
  func stockMatchesTheGenerator() async throws {
    let (first, manifest) = try await SeedLoadTests.seed(Self.configuration)
    let (second, _) = try await SeedLoadTests.seed(Self.configuration)
    let generator = SeedGenerator(Self.configuration)
    #expect(generator.warehouses.count == 3)
    #expect(generator.warehouses.map(\.code) == ["WH01", "WH02", "WH03"])
    let expected = Array(generator.stock).map {
      "\($0.productID)|\($0.warehouseID.lowercasedString)|\($0.onHand)|0|1"
    }.sorted()
    #expect(expected.count == 600)

    let firstDump = try await SeedLoadTests.withPool(first) { (pool: PostgresPool) async throws -> [String: String] in
      #expect(try await Self.stockRows(pool) == expected)
      // Every stock row is a product of the catalog, in a listed warehouse.
      #expect(
        try await SeedLoadTests.count(
          pool,
          """
          SELECT count(*) FROM inventory.stock s
          WHERE NOT EXISTS (SELECT 1 FROM catalog.products p WHERE p.id::text = s.product_id)
          """)
          == 0)
      let warehouses = try await pool.query("SELECT id::text, code, name, region_code FROM inventory.warehouses ORDER BY code").map {
        SeedManifest.Warehouse(
          id: try $0.decode(0, as: String.self), code: try $0.decode(1, as: String.self), name: try $0.decode(2, as: String.self),
          regionCode: try $0.decode(3, as: String.self))
      }
      #expect(warehouses == manifest.warehouses)
      // 0 <= reserved <= on_hand everywhere.
      #expect(
        try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.stock WHERE NOT (0 <= reserved AND reserved <= on_hand)")
          == 0)
      // One SET entry per row, by the seed, from nothing to the row's units.
      #expect(try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.stock_ledger") == 600)
      #expect(
        try await SeedLoadTests.count(
          pool,
          """
          SELECT count(*) FROM inventory.stock s JOIN inventory.stock_ledger l USING (product_id, warehouse_id)
          WHERE l.kind = 'SET' AND l.actor = 'service:seed' AND l.on_hand_delta = s.on_hand AND l.on_hand_after = s.on_hand
            AND l.reserved_delta = 0 AND l.reserved_after = 0 AND l.reservation_id IS NULL
          """) == 600)
      // One unpublished stock.changed event per product, in product order, as SetStock writes it.
      let events = try await pool.query(
        "SELECT topic, aggregate_id, payload FROM inventory.outbox WHERE published_at IS NULL ORDER BY id"
      ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: String.self), try $0.decode(2, as: [UInt8].self)) }
      #expect(events.map(\.1) == manifest.productIds)
      #expect(events.allSatisfy { $0.0 == "stock.changed" })
      let payload = try CommerceV1.StockLevel.with { $0.productId = manifest.productIds[0] }.serializedBytes()
      #expect(events.first?.2 == payload)
      // The manifest's sums are the rows'.
      let stock = try #require(manifest.stock)
      #expect(try await SeedLoadTests.count(pool, "SELECT sum(on_hand)::int8 FROM inventory.stock") == stock.units)
      let inStock = try await pool.query(
        "SELECT product_id FROM inventory.stock GROUP BY product_id HAVING sum(on_hand) > 0"
      ).map { try $0.decode(0, as: String.self) }
      #expect(stock.inStockProducts == inStock.count)
      #expect(stock.rows == 600)
      #expect(Set(stock.inStockProductIds).isSubset(of: inStock))
      #expect(stock.inStockProductIds == Array(manifest.productIds.filter(Set(inStock).contains).prefix(100)))
      return try await Self.dump(pool)
    }
    let secondDump = try await SeedLoadTests.withPool(second) { try await Self.dump($0) }
    #expect(firstDump.keys.sorted() == secondDump.keys.sorted())
    for (table, rows) in firstDump {
      #expect(!rows.isEmpty, "\(table) is empty")
      #expect(rows == secondDump[table], "\(table) differs between two loads of the same seed")
    }
  }

  @Test("a non-empty inventory is refused, and a bad row loads nothing")
  func refusesNonEmpty() async throws {
    let url = try await TestApp.newDatabase("seed_inventory")
    try await SeedLoadTests.withPool(url) { (pool: PostgresPool) async throws -> Void in
      try await EmporiumApp.migrate([InventoryService.declaration], pool: pool, logger: Logger(label: "seed-test"))
      let generator = SeedGenerator(SeedConfiguration(products: 10, users: 0, sellers: 1, seed: 3, warehouses: 2))
      let stranger = InventoryService.BulkStock(productID: generator.productID(0).lowercasedString, warehouseID: UUID(), onHand: 5)

      // A row naming an unknown warehouse fails the whole load.
      await #expect(throws: PostgresError.self) {
        try await InventoryService.bulkLoad(
          warehouses: generator.warehouses, stock: Array(generator.stock) + [stranger], pool: pool, at: generator.epoch)
      }
      #expect(try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.warehouses") == 0)
      #expect(try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.outbox") == 0)

      var steps: [InventoryService.BulkLoadProgress] = []
      let loaded = try await InventoryService.bulkLoad(
        warehouses: generator.warehouses, stock: generator.stock, pool: pool, at: generator.epoch
      ) { steps.append($0) }
      #expect(loaded == 20)
      #expect(steps == [.stockCopied(20), .recordingChanges])

      await #expect(throws: InventoryService.BulkLoadError.self) {
        try await InventoryService.bulkLoad(warehouses: [], stock: [stranger], pool: pool)
      }
      #expect(try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.stock") == 20)
      #expect(try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.stock_ledger") == 20)
      #expect(try await SeedLoadTests.count(pool, "SELECT count(*) FROM inventory.outbox") == 10)
    }
  }

  @Test("once the services run, the catalog's availability and in-stock flags are the seeded stock")
  func catalogLearnsTheLevels() async throws {
    // One warehouse: about a tenth of the products hold no unit at all.
    let configuration = SeedConfiguration(products: 200, users: 2, sellers: 2, seed: 78, warehouses: 1)
    let (url, manifest) = try await SeedLoadTests.seed(configuration)
    let generator = SeedGenerator(configuration)
    var available: [String: Int64] = [:]
    for index in 0..<configuration.products {
      available[generator.productID(index).lowercasedString] = generator.stock(ofProduct: index, warehouses: 1).reduce(0, +)
    }
    let inStock = Set(available.filter { $0.value > 0 }.keys)
    #expect(inStock.count < 200 && inStock.count > 100, "some products are out of stock, most are not")
    #expect(manifest.stock?.inStockProducts == inStock.count)

    try await TestApp.run("seed_stock", databaseURL: url, services: ServiceCatalog.all) { app in
      // The relay drains the seeded events when it starts.
      let drained = try await eventually {
        try await SeedLoadTests.count(app.pool, "SELECT count(*) FROM inventory.outbox WHERE published_at IS NULL") == 0
      }
      #expect(drained)
      #expect(try await SeedLoadTests.count(app.pool, "SELECT count(*) FROM catalog.stock_levels") == 200)

      let catalog = CommerceV1.CatalogService.Client(app.connection)
      for (id, units) in available {
        let page = try await catalog.getProduct(.with { $0.productId = id })
        let availability = try #require(page.availability)
        #expect(availability.availableQuantity == units, "\(id)")
        #expect(availability.availability == (units <= 0 ? .outOfStock : units <= 5 ? .lowStock : .inStock), "\(id)")
      }

      // Search: every product's in-stock flag, and the in-stock filter.
      var flags: [String: Bool] = [:]
      var token = ""
      repeat {
        let page = try await catalog.searchProducts(.with {
          $0.pageSize = 100
          $0.pageToken = token
        })
        for product in page.products { flags[product.productId] = product.inStock }
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(flags.count == 200)
      #expect(Set(flags.filter(\.value).keys) == inStock)
      var filtered: Set<String> = []
      token = ""
      repeat {
        let page = try await catalog.searchProducts(.with {
          $0.pageSize = 100
          $0.inStockOnly = true
          $0.pageToken = token
        })
        filtered.formUnion(page.products.map(\.productId))
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(filtered == inStock)
    }
  }
}
