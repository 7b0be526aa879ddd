import EmporiumSeed
import Foundation
import Testing

@testable import loadgen

@Suite struct LoadManifestTests {
  /// The manifest as `emporium seed` writes it today (format 1, no stock).
  static let seedManifest = """
    {"categoryIds":["c1","c2"],"counts":{"categories":2,"products":2,"sellers":1,"users":3},
     "epoch":"2025-02-12T00:00:00Z","format":1,"leafCategoryIds":["c2"],"productIds":["p1","p2"],
     "seed":42,"sellerIds":["s1"],
     "users":[{"email":"admin-1@seed.emporium.example","id":"u1","password":"seed-admin-42","role":"ADMIN"},
              {"email":"customer-1@seed.emporium.example","id":"u2","password":"seed-customer-42","role":"CUSTOMER"},
              {"email":"seller-1@seed.emporium.example","id":"u3","password":"seed-seller-42","role":"SELLER"}]}
    """

  @Test func readsTodaysManifestWithoutStock() throws {
    let manifest = try JSONDecoder().decode(LoadManifest.self, from: Data(Self.seedManifest.utf8))
    #expect(manifest.productIds == ["p1", "p2"])
    #expect(manifest.leafCategoryIds == ["c2"])
    #expect(manifest.customers.map(\.email) == ["customer-1@seed.emporium.example"])
    #expect(manifest.admins.map(\.password) == ["seed-admin-42"])
    #expect(manifest.warehouseIds == nil)
    #expect(!manifest.hasStock)  // checkout and hot-product set stock themselves
  }

  @Test func readsStockAndWarehousesWhenTheSeedBringsThem() throws {
    var text = Self.seedManifest
    text.removeLast()
    text += #","warehouseIds":["w1","w2"],"stock":{"onHandPerProduct":500}}"#
    let manifest = try JSONDecoder().decode(LoadManifest.self, from: Data(text.utf8))
    #expect(manifest.warehouseIds == ["w1", "w2"])
    #expect(manifest.hasStock)
  }

  /// The manifest `emporium seed` writes now (format 2: warehouses and stock), from the seed's
  /// own writer, read through the same path `--manifest FILE` takes.
  @Test func readsTheSeedsCurrentManifest() throws {
    let seeded = SeedManifest(SeedGenerator(SeedConfiguration(products: 5, users: 3, sellers: 1, seed: 9, warehouses: 2)))
    #expect(seeded.format == 2)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString).json")
    try seeded.json().write(to: path)
    defer { try? FileManager.default.removeItem(at: path) }
    let manifest = try LoadManifest.load(path.path)
    #expect(manifest.format == 2)
    #expect(manifest.productIds == seeded.productIds)
    #expect(manifest.warehouseIds == seeded.warehouses?.map(\.id))
    #expect(manifest.warehouseIds?.count == 2)
    #expect(manifest.hasStock)
    #expect(manifest.admins.count == 1)
  }

  @Test func refusesAFormatItDoesNotKnow() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString).json")
    try Data(Self.seedManifest.replacingOccurrences(of: #""format":1"#, with: #""format":3"#).utf8).write(to: path)
    defer { try? FileManager.default.removeItem(at: path) }
    #expect {
      try LoadManifest.load(path.path)
    } throws: { error in
      "\(error)".contains("manifest format 3; loadgen reads formats 1 to 2")
    }
  }
}

@Suite struct CommandLineTests {
  @Test func durations() throws {
    #expect(try DurationText.parse("30s") == .seconds(30))
    #expect(try DurationText.parse("500ms") == .milliseconds(500))
    #expect(try DurationText.parse("2m") == .seconds(120))
    #expect(try DurationText.parse("1.5") == .milliseconds(1_500))
    #expect(try DurationText.parse("250us") == .microseconds(250))
    #expect(throws: (any Error).self) { try DurationText.parse("soon") }
  }

  @Test func mixAndTarget() throws {
    let mix = try RunCommand.parseMix("checkout=1,browse=9")
    #expect(mix.map(\.0) == ["checkout", "browse"])
    #expect(mix.map(\.1) == [1, 9])
    #expect(throws: (any Error).self) { try RunCommand.parseMix("checkout") }
    #expect(try RunCommand.parseTarget("127.0.0.1:7700") == ("127.0.0.1", 7700))
    #expect(try RunCommand.parseTarget("[::1]:7700") == ("::1", 7700))
    #expect(throws: (any Error).self) { try RunCommand.parseTarget("localhost") }
  }
}
