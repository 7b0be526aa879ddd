import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceCatalog

@Suite("CatalogService search")
struct SearchTests {
  /// A small catalog with real vocabulary: audio under electronics, shoes under apparel.
  struct Fixture {
    var electronics: CommerceV1.Category
    var audio: CommerceV1.Category
    var apparel: CommerceV1.Category
    var seller: (id: String, options: CallOptions)
    var other: (id: String, options: CallOptions)
    var products: [String: CommerceV1.Product] = [:]

    static func make(_ h: CatalogHarness) async throws -> Fixture {
      let electronics = try await h.category("Electronics")
      let audio = try await h.category("Audio", parent: electronics.categoryId)
      let apparel = try await h.category("Apparel")
      var fixture = Fixture(
        electronics: electronics, audio: audio, apparel: apparel, seller: try await h.seller("Acme Audio"),
        other: try await h.seller("Stride Shoes"))
      let rows: [(String, String, Int64, String, [(String, String)], Bool)] = [
        ("Wireless Headphones", "Over-ear headphones with noise cancelling.", 12_999, "audio", [("brand", "Sonix"), ("color", "Black")], true),
        ("Headphones", "Studio headphones, wired.", 8_999, "audio", [("brand", "Acme"), ("color", "White")], true),
        ("Bluetooth Speaker", "A portable speaker for headphones lovers too.", 4_999, "audio", [("brand", "Sonix"), ("color", "Red")], true),
        ("Earbuds Pro", "Tiny earbuds, great bass.", 19_999, "audio", [("brand", "Acme"), ("color", "Black")], true),
        ("Running Shoes", "Light shoes for road running.", 7_999, "apparel", [("brand", "Stride"), ("color", "Red")], false),
        ("Trail Shoes", "Grippy shoes for trails; not headphones.", 11_999, "apparel", [("brand", "Stride"), ("color", "Black")], false),
        ("Café Mug", "A mug for the café at home.", 1_499, "electronics", [("brand", "Acme")], true),
      ]
      for (title, details, price, category, attributes, bySeller) in rows {
        let categoryID = category == "audio" ? audio.categoryId : category == "apparel" ? apparel.categoryId : electronics.categoryId
        fixture.products[title] = try await h.product(
          title, seller: bySeller ? fixture.seller.options : fixture.other.options, category: categoryID, price: price,
          details: details, attributes: attributes)
      }
      return fixture
    }

    func titles(_ response: CommerceV1.SearchProductsResponse) -> [String] { response.products.map(\.title) }
  }

  @Test func exactTitleRanksFirstAndTitleWeighsMoreThanDetails() async throws {
    try await CatalogHarness.run { h in
      let f = try await Fixture.make(h)
      let response = try await h.search { $0.query = "headphones" }
      let titles = f.titles(response)
      #expect(titles.first == "Headphones")
      #expect(Set(titles) == ["Headphones", "Wireless Headphones", "Bluetooth Speaker", "Trail Shoes"])
      // Title matches come before matches in the details only.
      #expect(titles.prefix(2).sorted() == ["Headphones", "Wireless Headphones"])
      #expect(response.estimatedTotalCount == 4)
      #expect(response.correctedQuery.isEmpty)
      // Accents do not matter; phrases, OR and exclusion follow web-search syntax.
      #expect(f.titles(try await h.search { $0.query = "cafe" }) == ["Café Mug"])
      #expect(Set(f.titles(try await h.search { $0.query = "headphones -shoes" })).contains("Trail Shoes") == false)
      #expect(Set(f.titles(try await h.search { $0.query = "earbuds OR speaker" })) == ["Earbuds Pro", "Bluetooth Speaker"])
      #expect(f.titles(try await h.search { $0.query = "\"noise cancelling\"" }) == ["Wireless Headphones"])
    }
  }

  @Test func repeatedSearchesAreServedFromTheResultCacheUntilTheCatalogChanges() async throws {
    // Results live a minute here: the repeat must find the first answer even on a loaded machine
    // (the change below still empties the cache at once).
    try await CatalogHarness.run(configure: { $0.searchCacheTimeToLive = .seconds(60) }) { h in
      let f = try await Fixture.make(h)
      // The fixture's writes are announced after they commit; their late arrival would empty
      // the cache between the two searches.
      try await h.settleAnnouncements()
      let first = try await h.search { $0.query = "speaker" }
      let hits = h.service.searchCacheStatistics.hits
      #expect(try await h.search { $0.query = "speaker" } == first)
      #expect(h.service.searchCacheStatistics.hits == hits + 1)
      // A change empties the cache: the next search sees it.
      try await h.product("Floor Speaker", seller: f.seller.options, category: f.audio.categoryId)
      #expect(Set(f.titles(try await h.search { $0.query = "speaker" })) == ["Bluetooth Speaker", "Floor Speaker"])
    }
  }

  @Test func aMisspelledWordIsCorrectedAndSaidSo() async throws {
    try await CatalogHarness.run { h in
      let f = try await Fixture.make(h)
      let response = try await h.search { $0.query = "hedphones" }
      #expect(response.correctedQuery == "headphones")
      #expect(f.titles(response).first == "Headphones")
      #expect(f.titles(response).count == 4)
      // Transposed characters, and the correction applies inside a longer query.
      let transposed = try await h.search { $0.query = "wireless haedphones" }
      #expect(transposed.correctedQuery == "wireless headphones")
      #expect(f.titles(transposed) == ["Wireless Headphones"])
      // Typo tolerance can be turned off.
      let exact = try await h.search {
        $0.query = "hedphones"
        $0.exactMatchOnly = true
      }
      #expect(exact.products.isEmpty && exact.correctedQuery.isEmpty)
    }
  }

  @Test func theLastWordMatchesAsAPrefix() async throws {
    try await CatalogHarness.run { h in
      let f = try await Fixture.make(h)
      let titles = f.titles(try await h.search { $0.query = "headph" })
      #expect(titles.first == "Headphones")
      #expect(titles.count == 4)
      #expect(f.titles(try await h.search { $0.query = "wireless headph" }) == ["Wireless Headphones"])
    }
  }

  @Test func filtersAndFacetsAgreeWithPlainSQL() async throws {
    try await CatalogHarness.run { h in
      let f = try await Fixture.make(h)
      let inventory = try await h.service("inventory")
      // Earbuds are out of stock.
      _ = try await h.catalog.recordStockLevels(
        .with {
          $0.levels = [
            .with {
              $0.productId = f.products["Earbuds Pro"]!.productId
              $0.availableQuantity = 0
              $0.version = 1
            }
          ]
        }, options: inventory)
      // Ratings: the headphones 4.5, the speaker 3 (both match below), the earbuds 5.
      let reviews = try await h.service("reviews")
      for (title, average, stars) in [("Wireless Headphones", 4.5, 5), ("Bluetooth Speaker", 3.0, 3), ("Earbuds Pro", 5.0, 5)] {
        _ = try await h.catalog.recordRatingSummaries(
          .with {
            $0.summaries = [
              .with {
                $0.summary = .with {
                  $0.productId = f.products[title]!.productId
                  $0.average = average
                  $0.count = 1
                  $0.histogram = (1...5).map { rating in .with { $0.rating = Int32(rating); $0.count = rating == stars ? 1 : 0 } }
                }
                $0.version = 1
              }
            ]
          }, options: reviews)
      }
      let response = try await h.search {
        $0.categoryIds = [f.electronics.categoryId]
        $0.attributeFilters = [.with { $0.name = "color"; $0.values = ["black", "RED"] }]
        $0.inStockOnly = true
        $0.includeFacets = true
        $0.facetAttributeNames = ["brand", "color"]
      }
      // Electronics (with descendants), black or red, in stock: Wireless Headphones, Speaker.
      #expect(Set(f.titles(response)) == ["Wireless Headphones", "Bluetooth Speaker"])
      let facets = try #require(response.facets)

      func count(_ sql: String) async throws -> Int64 {
        try await h.pool.query(sql).scalar(as: Int64.self) ?? -1
      }
      let active = "SELECT count(*) FROM catalog.products p LEFT JOIN catalog.stock_levels s ON s.product_id = p.id WHERE p.status = 'ACTIVE'"
      let inElectronics = "p.category_id IN (SELECT id FROM catalog.categories WHERE id = '\(f.electronics.categoryId)' OR '\(f.electronics.categoryId)' = ANY (ancestors))"
      let blackOrRed = "EXISTS (SELECT 1 FROM unnest(p.attribute_names, p.attribute_values) a (n, v) WHERE n = 'color' AND lower(v) IN ('black', 'red'))"
      let inStock = "coalesce(s.available > 0, true)"
      // The in-stock count ignores the in-stock filter only.
      #expect(facets.inStockCount == (try await count("\(active) AND \(inElectronics) AND \(blackOrRed) AND \(inStock)")))
      // The color facet ignores the color filter; the brand facet applies it.
      let colors = Dictionary(uniqueKeysWithValues: facets.attributes[1].values.map { ($0.value.lowercased(), $0.count) })
      #expect(colors["black"] == (try await count("\(active) AND \(inElectronics) AND \(inStock) AND EXISTS (SELECT 1 FROM unnest(p.attribute_names, p.attribute_values) a (n, v) WHERE n = 'color' AND lower(v) = 'black')")))
      #expect(colors["white"] == 1)
      let brands = Dictionary(uniqueKeysWithValues: facets.attributes[0].values.map { ($0.value, $0.count) })
      #expect(brands == ["Sonix": 2])
      // The category facet ignores the category filter: apparel's red running shoes count.
      let categories = Dictionary(uniqueKeysWithValues: facets.categories.map { ($0.value, $0.count) })
      #expect(categories[f.apparel.categoryId] == (try await count("\(active) AND p.category_id = '\(f.apparel.categoryId)' AND \(blackOrRed) AND \(inStock)")))
      #expect(categories[f.audio.categoryId] == 2)
      #expect(facets.categories.first(where: { $0.value == f.audio.categoryId })?.label == "Audio")
      // Price buckets cover every matching product, in ascending order with friendly bounds.
      #expect(facets.priceBuckets.reduce(0) { $0 + $1.count } == 2)
      // Rating buckets count the products rated at least 4, 3, 2 and 1, in that order.
      #expect(facets.ratingBuckets.map(\.minRating) == [4, 3, 2, 1])
      for bucket in facets.ratingBuckets {
        let rated = "EXISTS (SELECT 1 FROM catalog.rating_summaries r WHERE r.product_id = p.id AND r.average >= \(bucket.minRating))"
        #expect(bucket.count == (try await count("\(active) AND \(inElectronics) AND \(blackOrRed) AND \(inStock) AND \(rated)")))
      }
      let ratingCounts = facets.ratingBuckets.map(\.count)
      #expect(ratingCounts == [1, 2, 2, 2])
      // The rating facet ignores the rating filter; the others apply it.
      let ratedFour = try await h.search {
        $0.categoryIds = [f.electronics.categoryId]
        $0.attributeFilters = [.with { $0.name = "color"; $0.values = ["black", "RED"] }]
        $0.inStockOnly = true
        $0.minRating = 4
        $0.includeFacets = true
      }
      #expect(f.titles(ratedFour) == ["Wireless Headphones"])
      let ratedFourCounts = ratedFour.facets?.ratingBuckets.map(\.count)
      #expect(ratedFourCounts == [1, 2, 2, 2])
      let ratedFourStock = ratedFour.facets?.inStockCount
      #expect(ratedFourStock == 1)

      // A name asked for twice gets the same values in both places, each name its own filters.
      let twice = try #require(try await h.search {
        $0.categoryIds = [f.electronics.categoryId]
        $0.attributeFilters = [.with { $0.name = "color"; $0.values = ["black", "RED"] }]
        $0.inStockOnly = true
        $0.includeFacets = true
        $0.facetAttributeNames = ["color", "brand", "COLOR"]
      }.facets)
      #expect(twice.attributes.map(\.name) == ["color", "brand", "color"])
      #expect(twice.attributes[0].values == facets.attributes[1].values)
      #expect(twice.attributes[2].values == facets.attributes[1].values)
      #expect(twice.attributes[1].values == facets.attributes[0].values)

      // Price range and seller filters.
      let cheap = try await h.search {
        $0.priceRange = .with {
          $0.minPrice = CatalogHarness.usd(5_000)
          $0.maxPrice = CatalogHarness.usd(12_000)
        }
      }
      #expect(Set(f.titles(cheap)) == ["Headphones", "Running Shoes", "Trail Shoes"])
      let bySeller = try await h.search { $0.sellerIds = [f.other.id] }
      #expect(Set(f.titles(bySeller)) == ["Running Shoes", "Trail Shoes"])
      #expect(bySeller.products.allSatisfy { $0.sellerName == "Stride Shoes" })
    }
  }

  @Test func sortOrdersAndBadRequests() async throws {
    try await CatalogHarness.run { h in
      let f = try await Fixture.make(h)
      let ascending = try await h.search { $0.sort = .priceAscending }
      #expect(ascending.products.map(\.price!.amountMinor) == ascending.products.map(\.price!.amountMinor).sorted())
      let descending = try await h.search { $0.sort = .priceDescending }
      #expect(descending.products.first?.title == "Earbuds Pro")
      let newest = try await h.search { _ in }
      #expect(newest.products.first?.title == "Café Mug")
      // A query of stop words only matches as an empty query does.
      #expect(try await h.search { $0.query = "the and" }.estimatedTotalCount == newest.estimatedTotalCount)
      _ = f
      await expectFailure(.invalidArgument) { try await h.search { $0.query = String(repeating: "a", count: 201) } }
      await expectFailure(.invalidArgument) { try await h.search { $0.minRating = 6 } }
      await expectFailure(.invalidArgument, reason: "CURRENCY_MISMATCH") {
        try await h.search { $0.priceRange = .with { $0.minPrice = .with { $0.amountMinor = 1; $0.currency = "EUR" } } }
      }
      await expectFailure(.invalidArgument) {
        try await h.search {
          $0.priceRange = .with {
            $0.minPrice = CatalogHarness.usd(500)
            $0.maxPrice = CatalogHarness.usd(100)
          }
        }
      }
      let first = try await h.search {
        $0.query = "shoes"
        $0.pageSize = 1
      }
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.search {
          $0.query = "headphones"
          $0.pageToken = first.nextPageToken
        }
      }
    }
  }

  @Test func pagesStayStableWhileProductsAreInserted() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Socks")
      var expected: Set<String> = []
      for index in 0..<12 {
        expected.insert(try await h.product("Wool Socks \(index)", seller: seller.options, category: category.categoryId, price: Int64(100 + index % 4)).productId)
      }
      for sort in [CommerceV1.ProductSortOrder.relevance, .priceAscending, .priceDescending, .newest, .rating] {
        var seen: [String] = []
        var token = ""
        var inserted = 0
        repeat {
          let page = try await h.search {
            $0.query = "socks"
            $0.sort = sort
            $0.pageSize = 5
            $0.pageToken = token
          }
          seen += page.products.map(\.productId)
          token = page.nextPageToken
          // Between pages, new matching products arrive at both ends of every order.
          for price in [Int64(1), 999_999] {
            try await h.product("Wool Socks New \(inserted)", seller: seller.options, category: category.categoryId, price: price)
            inserted += 1
          }
        } while !token.isEmpty
        #expect(Set(seen).count == seen.count, "\(sort): returned twice")
        #expect(Set(seen).isSuperset(of: expected), "\(sort): skipped \(expected.subtracting(seen).count)")
      }
    }
  }
}
