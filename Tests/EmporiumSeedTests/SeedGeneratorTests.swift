import CommerceAPI
import CommerceCatalog
import CommerceInventory
import CommerceKit
import Foundation
import Testing

@testable import EmporiumSeed

@Suite("The seed data generator (no database)")
struct SeedGeneratorTests {
  static let small = SeedConfiguration(products: 300, users: 120, sellers: 6, seed: 42)

  @Test("the same configuration gives the same data, ids and manifest bytes")
  func deterministic() throws {
    let a = SeedGenerator(Self.small)
    let b = SeedGenerator(Self.small)
    #expect(a.categories == b.categories)
    #expect(a.accounts == b.accounts)
    #expect(a.sellers == b.sellers)
    #expect(Array(a.products) == Array(b.products))
    #expect(a.warehouses == b.warehouses)
    #expect(Array(a.stock) == Array(b.stock))
    #expect(try SeedManifest(a).json() == SeedManifest(b).json())
    // A product does not depend on how many are made, nor on the order they are made in.
    let more = SeedGenerator(SeedConfiguration(products: 1000, users: 120, sellers: 6, seed: 42))
    #expect(more.product(299) == a.product(299))
    #expect(a.product(7) == Array(a.products)[7])
    #expect(a.productID(7) == a.product(7).id)
  }

  @Test("warehouses and stock: one row per product and warehouse, the generator's units; a format 1 manifest still decodes")
  func stock() throws {
    let generator = SeedGenerator(Self.small)
    #expect(generator.warehouses.map(\.code) == ["WH01", "WH02", "WH03"])
    #expect(Set(generator.warehouses.map(\.id)).count == 3)
    for warehouse in generator.warehouses {
      #expect(warehouse.regionCode.range(of: "^[A-Z]{2}$", options: .regularExpression) != nil)
    }
    let rows = Array(generator.stock)
    #expect(rows.count == 900)
    #expect(rows.allSatisfy { $0.onHand >= 0 })
    #expect(rows.filter { $0.onHand == 0 }.count > 30, "some rows hold nothing")
    for index in [0, 17, 299] {
      let product = generator.stockRows(ofProduct: index)
      #expect(product.map(\.onHand) == generator.stock(ofProduct: index, warehouses: 3))
      #expect(product.allSatisfy { $0.productID == generator.productID(index).lowercasedString })
      #expect(product.map(\.warehouseID) == generator.warehouses.map(\.id))
    }
    let more = SeedGenerator(SeedConfiguration(products: 300, users: 120, sellers: 6, seed: 42, warehouses: 12))
    #expect(Set(more.warehouses.map(\.code)).count == 12 && Set(more.warehouses.map(\.name)).count == 12)
    #expect(more.warehouses.prefix(3) == generator.warehouses.prefix(3))

    let manifest = SeedManifest(generator)
    #expect(manifest.format == 2)
    #expect(manifest.warehouses?.map(\.id) == generator.warehouses.map { $0.id.uuidString.lowercased() })
    #expect(manifest.stock?.units == rows.reduce(0) { $0 + $1.onHand })
    #expect(manifest.stock?.inStockProductIds.count == 100)
    var old = try JSONSerialization.jsonObject(with: manifest.json()) as! [String: Any]
    old["format"] = 1
    old["warehouses"] = nil
    old["stock"] = nil
    let decoded = try JSONDecoder().decode(SeedManifest.self, from: JSONSerialization.data(withJSONObject: old))
    #expect(decoded.warehouses == nil && decoded.stock == nil && decoded.productIds == manifest.productIds)
  }

  @Test("different seeds give different data")
  func seedsDiffer() {
    let a = SeedGenerator(Self.small)
    var other = Self.small
    other.seed = 43
    let b = SeedGenerator(other)
    #expect(Set(a.categories.map(\.id)).isDisjoint(with: b.categories.map(\.id)))
    #expect(Set(a.products.map(\.id)).isDisjoint(with: b.products.map(\.id)))
    #expect(a.products.map(\.title) != b.products.map(\.title))
    #expect(a.epoch != b.epoch)
  }

  @Test("counts, roles and known passwords are as asked")
  func counts() throws {
    let generator = SeedGenerator(Self.small)
    let manifest = SeedManifest(generator)
    #expect(manifest.counts.products == 300 && manifest.productIds.count == 300)
    #expect(manifest.counts.users == 126 && manifest.users.count == 126)
    #expect(manifest.sellerIds.count == 6)
    let roles = Dictionary(grouping: manifest.users, by: \.role).mapValues(\.count)
    #expect(roles == ["ADMIN": 1, "DELIVERY_PARTNER": 2, "CUSTOMER": 117, "SELLER": 6])
    for user in manifest.users {
      #expect(user.password == "seed-\(user.role.lowercased().replacingOccurrences(of: "_", with: "-"))-42")
    }
    #expect(Set(manifest.users.map(\.email)).count == manifest.users.count)
    #expect(Set(manifest.productIds).count == 300)
  }

  @Test("products are realistic: rules of the schema hold, prices have a long tail, the vocabulary is rich")
  func realistic() {
    let generator = SeedGenerator(SeedConfiguration(products: 5000, users: 10, sellers: 50, seed: 9))
    let products = Array(generator.products)
    let leaves = Set(generator.leafCategoryIDs)
    let sellers = Set(generator.sellers.map(\.id))
    var words: Set<String> = []
    for product in products {
      #expect((1...200).contains(product.title.count))
      #expect(product.price.amountMinor >= 99)
      if let compareAt = product.compareAtPrice { #expect(compareAt.amountMinor > product.price.amountMinor) }
      #expect(leaves.contains(product.categoryID))
      #expect(sellers.contains(product.sellerID))
      #expect(product.attributes.contains { $0.name == "brand" } && product.attributes.contains { $0.name == "color" })
      #expect(product.createdAt <= generator.epoch)
      for word in (product.title + " " + product.details).lowercased().split(whereSeparator: { !$0.isLetter }) {
        words.insert(String(word))
      }
    }
    #expect(words.count > 500)
    for category in generator.categories {
      #expect(category.slug.range(of: "^[a-z0-9-]{1,100}$", options: .regularExpression) != nil)
    }
    #expect(Set(generator.categories.map(\.slug)).count == generator.categories.count)
    // Long tail: the mean is well above the median, and a few products cost 10× the median.
    let prices = products.map { Double($0.price.amountMinor) }.sorted()
    let median = prices[prices.count / 2]
    let mean = prices.reduce(0, +) / Double(prices.count)
    #expect(mean > median * 1.2)
    #expect(prices.last! > median * 10)
    // Sellers have a long tail too.
    let perSeller = Dictionary(grouping: products, by: \.sellerID).mapValues(\.count)
    #expect(perSeller.values.max()! > 5 * perSeller.values.min()!)
  }

  @Test("the same seed and stream repeat their numbers; other streams differ; UUIDs are version 4")
  func randomStream() {
    var random = SeedRandom(seed: 1)
    let first = (0..<3).map { _ in random.next() }
    var again = SeedRandom(seed: 1)
    #expect((0..<3).map { _ in again.next() } == first)
    var other = SeedRandom(seed: 1, stream: 2)
    #expect(other.next() != first[0])
    var uuids = SeedRandom(seed: 5)
    let id = uuids.uuid()
    #expect(id.uuidString.dropFirst(14).first == "4")
  }
}
