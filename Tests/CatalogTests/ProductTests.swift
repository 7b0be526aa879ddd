import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import Testing

@testable import CommerceCatalog

@Suite("CatalogService products")
struct ProductTests {
  @Test func sellersCreateDraftsThatOnlyTheyAndAdminsSeeUntilActive() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Headphones")
      let draft = try await h.product("Studio Headphones", seller: seller.options, category: category.categoryId, status: .unspecified)
      #expect(draft.status == .draft)
      #expect(draft.version == 1)
      #expect(draft.sellerId == seller.id)

      // Anonymous callers and other users do not see a draft; its seller and admins do.
      await expectFailure(.notFound) { try await h.catalog.getProduct(.with { $0.productId = draft.productId }) }
      await expectFailure(.notFound) {
        try await h.catalog.getProduct(.with { $0.productId = draft.productId }, options: try await h.user(roles: []))
      }
      let own = try await h.catalog.getProduct(.with { $0.productId = draft.productId }, options: seller.options)
      #expect(own.product?.title == "Studio Headphones")
      #expect(own.seller?.displayName == "Acme Audio")
      #expect(own.breadcrumbs.map(\.categoryId) == [category.categoryId])
      #expect(own.ratingSummary?.histogram.count == 5)
      #expect(own.availability?.availability == .unspecified)
      _ = try await h.catalog.getProduct(.with { $0.productId = draft.productId }, options: try await h.admin())
      let batch = try await h.catalog.batchGetProducts(.with { $0.productIds = [draft.productId] })
      #expect(batch.products.isEmpty && batch.missingProductIds == [draft.productId])

      // Listing it makes it visible to everyone.
      let active = try await h.catalog.updateProduct(
        .with {
          $0.product = .with {
            $0.productId = draft.productId
            $0.status = .active
          }
          $0.updatePaths = ["status"]
          $0.expectedVersion = 1
        }, options: seller.options
      ).product!
      #expect(active.status == .active && active.version == 2)
      let page = try await h.catalog.getProduct(.with { $0.productId = draft.productId })
      #expect(page.product?.version == 2)
      #expect(page.seller?.activeProductCount == 1)
    }
  }

  @Test("a product page answered from the cache keeps the draft rule for every caller, read after read")
  func cachedDraftPages() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Headphones")
      let draft = try await h.product("Studio Headphones", seller: seller.options, category: category.categoryId, status: .unspecified)
      let stranger = try await h.user(roles: [])
      let admin = try await h.admin()
      let request = CommerceV1.GetProductRequest.with { $0.productId = draft.productId }
      // The first read fills the cache; the later ones are answered from it, on the server's
      // event loop, with the bytes the cache keeps, through the auth interceptor's cache of
      // verified tokens: the same answer to the byte.
      let filled = try await h.catalog.getProduct(request, options: seller.options)
      for _ in 0..<3 {
        #expect(try await h.catalog.getProduct(request, options: seller.options) == filled)
        #expect(try await h.catalog.getProduct(request, options: seller.options).product?.title == "Studio Headphones")
        #expect(try await h.catalog.getProduct(request, options: admin).product?.status == .draft)
        await expectFailure(.notFound) { try await h.catalog.getProduct(request) }
        await expectFailure(.notFound) { try await h.catalog.getProduct(request, options: stranger) }
      }
      // A token the server has not seen is verified on the async path, then cached: same answers.
      let newcomer = try await h.user(roles: [])
      await expectFailure(.notFound) { try await h.catalog.getProduct(request, options: newcomer) }
      await expectFailure(.notFound) { try await h.catalog.getProduct(request, options: newcomer) }
      // A malformed id is NOT_FOUND on either path.
      await expectFailure(.notFound) { try await h.catalog.getProduct(.with { $0.productId = "not-a-uuid" }) }
    }
  }

  @Test("a product page counts its seller's active products: listing, archiving and drafts move the count as they should")
  func sellersActiveProductCount() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let other = try await h.seller("Loud Inc")
      let category = try await h.category("Headphones")
      let first = try await h.product("Studio Headphones", seller: seller.options, category: category.categoryId)
      let second = try await h.product("Travel Headphones", seller: seller.options, category: category.categoryId)
      let draft = try await h.product("Prototype", seller: seller.options, category: category.categoryId, status: .unspecified)
      let elsewhere = try await h.product("Loud Speaker", seller: other.options, category: category.categoryId)
      _ = try await h.catalog.archiveProduct(
        .with {
          $0.productId = first.productId
          $0.expectedVersion = 1
        }, options: seller.options)
      // Each page is read for the first time here, so no cached page stands in for the count.
      let page = try await h.catalog.getProduct(.with { $0.productId = second.productId })
      #expect(page.seller?.activeProductCount == 1)
      #expect(try await h.catalog.getProduct(.with { $0.productId = elsewhere.productId }).seller?.activeProductCount == 1)
      // Listing the draft counts it.
      _ = try await h.catalog.updateProduct(
        .with {
          $0.product = .with {
            $0.productId = draft.productId
            $0.status = .active
          }
          $0.updatePaths = ["status"]
          $0.expectedVersion = 1
        }, options: seller.options)
      #expect(try await h.catalog.getProduct(.with { $0.productId = draft.productId }).seller?.activeProductCount == 2)
    }
  }

  @Test func onlyApprovedSellersAndAdminsCreateProducts() async throws {
    try await CatalogHarness.run { h in
      let category = try await h.category("Speakers")
      let customer = try await h.user(roles: [])
      await expectFailure(.permissionDenied) { try await h.product("Speaker", seller: customer, category: category.categoryId) }
      let applicant = try await h.applicant()
      await expectFailure(.permissionDenied, reason: "SELLER_NOT_APPROVED") {
        try await h.product("Speaker", seller: applicant, category: category.categoryId)
      }
      await expectFailure(.unauthenticated) {
        try await h.catalog.createProduct(.with { $0.product = .with { $0.title = "x" } })
      }
      // An admin creates a product for a seller, naming it.
      let seller = try await h.seller("Loud Inc")
      let admin = try await h.admin()
      await expectFailure(.invalidArgument) { try await h.product("Speaker", seller: admin, category: category.categoryId) }
      let created = try await h.catalog.createProduct(
        .with {
          $0.product = .with {
            $0.sellerId = seller.id
            $0.title = "Bookshelf Speaker"
            $0.categoryId = category.categoryId
            $0.price = CatalogHarness.usd(4999)
          }
        }, options: admin
      ).product!
      #expect(created.sellerId == seller.id)
    }
  }

  @Test func invalidProductsAreRefusedWithEveryViolation() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Cables")
      let error = await expectFailure(.invalidArgument) {
        try await h.catalog.createProduct(
          .with {
            $0.product = .with {
              $0.title = ""
              $0.categoryId = category.categoryId
              $0.price = CatalogHarness.usd(0)
              $0.imageUrls = ["http://insecure.example.com/a.png"]
              $0.attributes = [.with { $0.name = "Bad Name"; $0.value = "x" }]
            }
          }, options: seller.options)
      }
      let fields = Set(error?.invalidFields ?? [])
      #expect(fields.isSuperset(of: ["product.title", "product.price.amount_minor", "product.image_urls[0]", "product.attributes[0].name"]))
      await expectFailure(.invalidArgument, reason: "CURRENCY_MISMATCH") {
        try await h.catalog.createProduct(
          .with {
            $0.product = .with {
              $0.title = "Cable"
              $0.categoryId = category.categoryId
              $0.price = .with { $0.amountMinor = 100; $0.currency = "EUR" }
            }
          }, options: seller.options)
      }
      await expectFailure(.notFound) {
        try await h.product("Cable", seller: seller.options, category: UUID().uuidString.lowercased())
      }
      // A sku is unique per seller.
      try await h.product("Cable A", seller: seller.options, category: category.categoryId, sku: "CAB-1")
      await expectFailure(.alreadyExists) {
        try await h.product("Cable B", seller: seller.options, category: category.categoryId, sku: "CAB-1")
      }
      let other = try await h.seller("Other")
      try await h.product("Cable C", seller: other.options, category: category.categoryId, sku: "CAB-1")
    }
  }

  @Test func sellersManageOnlyTheirOwnProductsWithVersions() async throws {
    try await CatalogHarness.run { h in
      let owner = try await h.seller()
      let other = try await h.seller("Rival")
      let category = try await h.category("Mice")
      let product = try await h.product("Wireless Mouse", seller: owner.options, category: category.categoryId)
      func rename(_ title: String, version: Int64, as options: CallOptions) async throws -> CommerceV1.Product {
        try await h.catalog.updateProduct(
          .with {
            $0.product = .with {
              $0.productId = product.productId
              $0.title = title
            }
            $0.updatePaths = ["title"]
            $0.expectedVersion = version
          }, options: options
        ).product!
      }
      // Another seller, or a customer, is told the product does not exist.
      await expectFailure(.notFound) { try await rename("Stolen", version: 1, as: other.options) }
      await expectFailure(.notFound) { try await rename("Stolen", version: 1, as: try await h.user(roles: [])) }
      let renamed = try await rename("Silent Wireless Mouse", version: 1, as: owner.options)
      #expect(renamed.version == 2 && renamed.title == "Silent Wireless Mouse")
      // A blind retry of the same update finds the version moved on.
      let stale = await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await rename("Silent Wireless Mouse", version: 1, as: owner.options)
      }
      #expect(stale?.commerceMetadata["currentVersion"] == "2")
      await expectFailure(.invalidArgument) {
        try await h.catalog.updateProduct(
          .with {
            $0.product = .with { $0.productId = product.productId }
            $0.updatePaths = ["colour"]
            $0.expectedVersion = 2
          }, options: owner.options)
      }
      // Admins may change any product.
      _ = try await rename("Admin Mouse", version: 2, as: try await h.admin())

      // Archiving is final and idempotent, even with a stale version.
      await expectFailure(.notFound) {
        try await h.catalog.archiveProduct(
          .with {
            $0.productId = product.productId
            $0.expectedVersion = 3
          }, options: other.options)
      }
      let archived = try await h.catalog.archiveProduct(
        .with {
          $0.productId = product.productId
          $0.expectedVersion = 3
        }, options: owner.options
      ).product!
      #expect(archived.status == .archived && archived.archiveTime != nil)
      let again = try await h.catalog.archiveProduct(
        .with {
          $0.productId = product.productId
          $0.expectedVersion = 1
        }, options: owner.options
      ).product!
      #expect(again.version == archived.version)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await rename("Back", version: archived.version, as: owner.options)
      }
      // Archived products stay readable (order history).
      let page = try await h.catalog.getProduct(.with { $0.productId = product.productId })
      #expect(page.product?.status == .archived)
    }
  }

  @Test func batchGetKeepsRequestOrderAndReportsMissingIds() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Keyboards")
      let a = try await h.product("Keyboard A", seller: seller.options, category: category.categoryId)
      let b = try await h.product("Keyboard B", seller: seller.options, category: category.categoryId)
      let unknown = UUID().uuidString.lowercased()
      let response = try await h.catalog.batchGetProducts(.with { $0.productIds = [b.productId, unknown, a.productId, b.productId, "junk"] })
      #expect(response.products.map(\.productId) == [b.productId, a.productId])
      #expect(response.summaries.map(\.productId) == [b.productId, a.productId])
      #expect(response.summaries.allSatisfy { $0.sellerName == "Acme Audio" && $0.inStock && $0.price?.amountMinor == 1999 })
      #expect(response.missingProductIds == [unknown, "junk"])
      await expectFailure(.invalidArgument) {
        try await h.catalog.batchGetProducts(.with { $0.productIds = (0..<101).map { _ in UUID().uuidString.lowercased() } })
      }
    }
  }

  @Test func listSellerProductsPagesNewestFirstForTheSellerAndAdmins() async throws {
    try await CatalogHarness.run { h in
      let seller = try await h.seller()
      let category = try await h.category("Lamps")
      var ids: [String] = []
      for index in 0..<5 {
        ids.append(try await h.product("Lamp \(index)", seller: seller.options, category: category.categoryId, status: index == 0 ? .draft : .active).productId)
      }
      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await h.catalog.listSellerProducts(
          .with {
            $0.pageSize = 2
            $0.pageToken = token
          }, options: seller.options)
        seen += page.products.map(\.productId)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == ids.reversed())
      let drafts = try await h.catalog.listSellerProducts(
        .with {
          $0.sellerId = seller.id
          $0.statuses = [.draft]
        }, options: try await h.admin())
      #expect(drafts.products.map(\.productId) == [ids[0]])
      let other = try await h.seller("Other")
      await expectFailure(.notFound) {
        try await h.catalog.listSellerProducts(.with { $0.sellerId = seller.id }, options: other.options)
      }
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.catalog.listSellerProducts(.with { $0.pageToken = "not-a-token" }, options: seller.options)
      }
    }
  }
}
