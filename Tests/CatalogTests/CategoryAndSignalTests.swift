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

@Suite("CatalogService categories, stock, ratings and reindex")
struct CategoryAndSignalTests {
  @Test func categoriesFormATreeListedDepthFirst() async throws {
    try await CatalogHarness.run { h in
      let admin = try await h.admin()
      let shoes = try await h.category("Shoes", slug: "shoes")
      let running = try await h.category("Running", parent: shoes.categoryId, slug: "running")
      let boots = try await h.category("Boots", parent: shoes.categoryId, slug: "boots")
      let trail = try await h.category("Trail", parent: running.categoryId, slug: "trail")
      try await h.category("Audio", slug: "audio")
      #expect(trail.depth == 2 && trail.ancestorCategoryIds == [shoes.categoryId, running.categoryId])

      let all = try await h.catalog.listCategories(.init())
      #expect(all.categories.map(\.slug) == ["audio", "shoes", "boots", "running", "trail"])
      let roots = try await h.catalog.listCategories(.with { $0.childrenOnly = true })
      #expect(roots.categories.map(\.slug) == ["audio", "shoes"])
      let under = try await h.catalog.listCategories(.with { $0.parentCategoryId = shoes.categoryId })
      #expect(under.categories.map(\.slug) == ["boots", "running", "trail"])
      // Pages continue in the same order.
      let first = try await h.catalog.listCategories(.with { $0.pageSize = 2 })
      let second = try await h.catalog.listCategories(.with {
        $0.pageSize = 2
        $0.pageToken = first.nextPageToken
      })
      #expect((first.categories + second.categories).map(\.slug) == ["audio", "shoes", "boots", "running"])

      // Product counts include descendants.
      let seller = try await h.seller()
      try await h.product("Trail Runner", seller: seller.options, category: trail.categoryId)
      try await h.product("Draft Boot", seller: seller.options, category: boots.categoryId, status: .draft)
      // Counts include descendants and active products only; they may trail by a few seconds.
      #expect(try await eventually {
        let counted = try await h.catalog.listCategories(.init())
        let counts = Dictionary(uniqueKeysWithValues: counted.categories.map { ($0.slug, $0.productCount) })
        return counts == ["audio": 0, "shoes": 1, "boots": 0, "running": 1, "trail": 1]
      })

      await expectFailure(.alreadyExists) {
        try await h.catalog.createCategory(.with { $0.name = "Shoes again"; $0.slug = "shoes" }, options: admin)
      }
      await expectFailure(.notFound) {
        try await h.catalog.createCategory(
          .with {
            $0.name = "Orphan"
            $0.slug = "orphan"
            $0.parentCategoryId = UUID().uuidString.lowercased()
          }, options: admin)
      }
      await expectFailure(.invalidArgument) {
        try await h.catalog.createCategory(.with { $0.name = "Bad"; $0.slug = "Bad Slug" }, options: admin)
      }
      await expectFailure(.permissionDenied) {
        try await h.catalog.createCategory(.with { $0.name = "Mine"; $0.slug = "mine" }, options: seller.options)
      }
      // At most 6 levels.
      var parent = trail.categoryId
      for level in 3..<6 { parent = try await h.category("Level \(level)", parent: parent).categoryId }
      await expectFailure(.invalidArgument) { try await h.category("Too deep", parent: parent) }
      // The same idempotency key returns the same category.
      let once = try await h.catalog.createCategory(.with { $0.name = "Hats"; $0.slug = "hats"; $0.idempotencyKey = "k1" }, options: admin)
      let twice = try await h.catalog.createCategory(.with { $0.name = "Hats"; $0.slug = "hats"; $0.idempotencyKey = "k1" }, options: admin)
      #expect(once.category?.categoryId == twice.category?.categoryId)
    }
  }

  /// Units sold of a product that stays in stock change its page, not search results: the
  /// cached page is patched (here, and from another process's announcement) and cached searches
  /// stay; a flip of the in-stock flag evicts both.
  @Test func aLevelChangeWithoutAFlipPatchesThePageAndKeepsSearches() async throws {
    // Searches stay cached far longer than the test runs, whatever the machine's load.
    try await CatalogHarness.run(configure: { $0.searchCacheTimeToLive = .seconds(600) }) { h in
      let seller = try await h.seller()
      let category = try await h.category("Kettles")
      let kettle = try await h.product("Steel Kettle", seller: seller.options, category: category.categoryId)
      let inventory = try await h.service("inventory")
      func level(_ quantity: Int64, version: Int64) async throws {
        _ = try await h.catalog.recordStockLevels(
          .with { $0.levels = [.with { $0.productId = kettle.productId; $0.availableQuantity = quantity; $0.version = version }] },
          options: inventory)
      }
      func available() async throws -> Int64? {
        try await h.catalog.getProduct(.with { $0.productId = kettle.productId }).availability?.availableQuantity
      }
      try await level(40, version: 1)
      #expect(try await eventually { try await available() == 40 })
      // The announcements of the writes so far (the product's creation, its first level) may
      // still be on their way and would evict the page: let them land, then fill the caches.
      try await h.settleAnnouncements()
      #expect(try await available() == 40)
      #expect(try await h.search { $0.query = "kettle" }.products.first?.inStock == true)

      let misses = h.service.cacheStatistics.misses
      let searchHits = h.service.searchCacheStatistics.hits
      try await level(39, version: 2)
      #expect(try await available() == 39)
      // Another process's sale, announced as it is after its commit.
      try await h.pool.query(
        "SELECT pg_notify('catalog_products', $1)", ["stock:\(kettle.productId):38"])
      #expect(try await eventually { try await available() == 38 })
      #expect(h.service.cacheStatistics.misses == misses)  // served from the patched page
      #expect(try await h.search { $0.query = "kettle" }.products.first?.inStock == true)
      #expect(h.service.searchCacheStatistics.hits == searchHits + 1)  // the search stayed cached

      try await level(0, version: 3)
      #expect(try await h.search { $0.query = "kettle" }.products.first?.inStock == false)
      #expect(h.service.searchCacheStatistics.hits == searchHits + 1)  // evicted by the flip
      #expect(try await available() == 0)
      #expect(h.service.cacheStatistics.misses > misses)
    }
  }

  @Test func stockAnnouncementsParse() throws {
    let id = UUID()
    let level = CatalogStore.AppliedStockLevel(product: id, available: 12, flipped: false)
    let parsed = try #require(CatalogStore.parseStockPayload(CatalogStore.stockPayload(level)))
    #expect(parsed.product == id && parsed.available == 12)
    #expect(CatalogStore.parseStockPayload(id.lowercasedString) == nil)
    #expect(CatalogStore.parseStockPayload("stock:nope:1") == nil)
    #expect(CatalogStore.parseStockPayload("stock:\(id.lowercasedString):x") == nil)
    #expect(CatalogStore.parseStockPayload("*") == nil)
  }

  @Test func stockAndRatingsReachSearchAndPagesAndIgnoreOldVersions() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Kettles")
      let kettle = try await h.product("Steel Kettle", seller: seller.options, category: category.categoryId)
      let inventory = try await h.service("inventory")
      func level(_ quantity: Int64, version: Int64) async throws -> Int32 {
        try await h.catalog.recordStockLevels(
          .with {
            $0.levels = [
              .with {
                $0.productId = kettle.productId
                $0.availableQuantity = quantity
                $0.version = version
              }
            ]
          }, options: inventory
        ).appliedCount
      }
      // Cache the page first, so the change must reach it.
      _ = try await h.catalog.getProduct(.with { $0.productId = kettle.productId })
      #expect(try await level(3, version: 2) == 1)
      #expect(try await level(50, version: 1) == 0)  // older: ignored
      let page = try await h.catalog.getProduct(.with { $0.productId = kettle.productId })
      #expect(page.availability?.availability == .lowStock && page.availability?.availableQuantity == 3)
      #expect(try await level(0, version: 3) == 1)
      let inStock = try await h.search {
        $0.query = "kettle"
        $0.inStockOnly = true
      }
      #expect(inStock.products.isEmpty)
      #expect(try await h.search { $0.query = "kettle" }.products.first?.inStock == false)
      // Only the inventory identity reports stock.
      await expectFailure(.permissionDenied) {
        try await h.catalog.recordStockLevels(.with { $0.levels = [.with { $0.productId = kettle.productId; $0.version = 9 }] }, options: seller.options)
      }
      await expectFailure(.invalidArgument) {
        try await h.catalog.recordStockLevels(.with { $0.levels = [.with { $0.productId = kettle.productId; $0.availableQuantity = -1; $0.version = 9 }] }, options: inventory)
      }

      let reviews = try await h.service("reviews")
      let summary = CommerceV1.RatingSummary.with {
        $0.productId = kettle.productId
        $0.average = 4.5
        $0.count = 2
        $0.histogram = (1...5).map { rating in .with { $0.rating = Int32(rating); $0.count = rating >= 4 ? 1 : 0 } }
      }
      let applied = try await h.catalog.recordRatingSummaries(.with { $0.summaries = [.with { $0.summary = summary; $0.version = 1 }] }, options: reviews)
      #expect(applied.appliedCount == 1)
      #expect(try await h.catalog.getProduct(.with { $0.productId = kettle.productId }).ratingSummary?.average == 4.5)
      let rated = try await h.search { $0.minRating = 4 }
      #expect(rated.products.map(\.productId) == [kettle.productId])
      #expect(rated.products.first?.ratingCount == 2)
      var wrong = summary
      wrong.count = 3
      await expectFailure(.invalidArgument) {
        try await h.catalog.recordRatingSummaries(.with { $0.summaries = [.with { $0.summary = wrong; $0.version = 2 }] }, options: reviews)
      }
    }
  }

  @Test func reindexRebuildsTheIndexInTheBackgroundWithProgress() async throws {
    try await CatalogHarness.run(configure: { $0.reindexBatchSize = 3 }) { h in
      let seller = try await h.seller()
      let category = try await h.category("Pens")
      for index in 0..<8 { try await h.product("Fountain Pen \(index)", seller: seller.options, category: category.categoryId) }
      // Damage the index the way a lost update would; the reindex repairs it.
      try await h.pool.query("DELETE FROM catalog.search_documents WHERE title = 'Fountain Pen 3'")
      #expect(try await h.search { $0.query = "fountain" }.estimatedTotalCount == 7)
      let admin = try await h.admin()
      await expectFailure(.invalidArgument) { try await h.catalog.startSearchReindex(.init(), options: admin) }
      let started = try await h.catalog.startSearchReindex(.with { $0.jobId = "job-1" }, options: admin).job!
      #expect(started.totalCount == 8)
      #expect(try await eventually {
        try await h.catalog.getSearchReindexJob(.with { $0.jobId = "job-1" }, options: admin).job?.state == .succeeded
      })
      let done = try await h.catalog.getSearchReindexJob(.with { $0.jobId = "job-1" }, options: admin).job!
      #expect(done.processedCount == 8 && done.finishTime != nil)
      // The job shows SUCCEEDED as the new index commits; the cached searches (the 7 above) are
      // dropped by the announcement committed with it, which every process applies as it arrives.
      try await h.settleAnnouncements()
      #expect(try await h.search { $0.query = "fountain" }.estimatedTotalCount == 8)
      // Typo correction uses the rebuilt vocabulary.
      #expect(try await h.search { $0.query = "fountian" }.correctedQuery == "fountain")
      // Starting an existing job id returns it; unknown jobs are NOT_FOUND; customers may not.
      #expect(try await h.catalog.startSearchReindex(.with { $0.jobId = "job-1" }, options: admin).job?.state == .succeeded)
      await expectFailure(.notFound) { try await h.catalog.getSearchReindexJob(.with { $0.jobId = "nope" }, options: admin) }
      await expectFailure(.permissionDenied) {
        try await h.catalog.startSearchReindex(.with { $0.jobId = "job-2" }, options: seller.options)
      }
      // The admin service identity may start one too; writes keep working afterwards.
      _ = try await h.catalog.startSearchReindex(.with { $0.jobId = "job-2" }, options: try await h.service("admin"))
      #expect(try await eventually {
        try await h.catalog.getSearchReindexJob(.with { $0.jobId = "job-2" }, options: admin).job?.state == .succeeded
      })
      try await h.product("Fountain Pen 9", seller: seller.options, category: category.categoryId)
      #expect(try await h.search { $0.query = "fountain" }.estimatedTotalCount == 9)
    }
  }

  @Test func aRunningJobBlocksAnotherUntilItsLeaseLapses() async throws {
    try await CatalogHarness.run { h in
      // A job left RUNNING by a server that stopped, with its lease still valid.
      try await h.pool.query(
        "INSERT INTO catalog.reindex_jobs (id, state, started_at, lease_expires_at) VALUES ('stuck', 'RUNNING', now(), now() + interval '1 hour')")
      let admin = try await h.admin()
      let busy = await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.catalog.startSearchReindex(.with { $0.jobId = "next" }, options: admin)
      }
      #expect(busy?.commerceMetadata["runningJobId"] == "stuck")
      // Once the lease lapses, the next start fails the stuck job and runs.
      try await h.pool.query("UPDATE catalog.reindex_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = 'stuck'")
      _ = try await h.catalog.startSearchReindex(.with { $0.jobId = "next" }, options: admin)
      let stuck = try await h.catalog.getSearchReindexJob(.with { $0.jobId = "stuck" }, options: admin).job!
      #expect(stuck.state == .failed && !stuck.errorMessage.isEmpty)
    }
  }
}
