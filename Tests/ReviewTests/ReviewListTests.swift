import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@Suite("ReviewService: lists, pages and exact summaries")
struct ReviewListTests {
  /// `count` customers who each received `product`, in parallel.
  static func buyers(_ count: Int, of product: String, _ h: ReviewHarness) async throws -> [(id: String, options: CallOptions)] {
    try await withThrowingTaskGroup(of: (id: String, options: CallOptions).self) { group in
      for index in 0..<count {
        group.addTask {
          let customer = try await h.customer("Buyer\(index)")
          try await h.order([product], for: customer.options)
          return customer
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
  }

  @Test("newest, highest and lowest rating orders, a rating filter, pages that add up to the list, foreign tokens refused")
  func listsAndPages() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let ratings: [Int32] = [5, 3, 4, 1, 5]
      let buyers = try await Self.buyers(ratings.count, of: product, h)
      var ids: [String] = []
      for (buyer, rating) in zip(buyers, ratings) {
        ids.append(try await h.reviews.createReview(ReviewHarness.review(product, rating: rating), options: buyer.options).review!.reviewId)
      }
      func list(_ sort: CommerceV1.ReviewSortOrder, rating: Int32 = 0, size: Int32 = 0, token: String = "") async throws
        -> CommerceV1.ListProductReviewsResponse
      {
        try await h.reviews.listProductReviews(
          .with {
            $0.productId = product
            $0.sort = sort
            $0.rating = rating
            $0.pageSize = size
            $0.pageToken = token
          })
      }
      #expect(try await list(.unspecified).reviews.map(\.reviewId) == ids.reversed())
      // Ties keep newest first.
      #expect(try await list(.highestRating).reviews.map(\.reviewId) == [ids[4], ids[0], ids[2], ids[1], ids[3]])
      #expect(try await list(.lowestRating).reviews.map(\.reviewId) == [ids[3], ids[1], ids[2], ids[4], ids[0]])
      #expect(try await list(.newest, rating: 5).reviews.map(\.reviewId) == [ids[4], ids[0]])
      #expect(try await list(.newest).reviews.allSatisfy { $0.authorDisplayName.hasPrefix("Buyer") })

      for sort in [CommerceV1.ReviewSortOrder.newest, .highestRating, .lowestRating] {
        var paged: [String] = []
        var token = ""
        repeat {
          let page = try await list(sort, size: 2, token: token)
          #expect(page.reviews.count <= 2)
          paged += page.reviews.map(\.reviewId)
          token = page.nextPageToken
        } while !token.isEmpty
        #expect(paged == (try await list(sort).reviews.map(\.reviewId)), "\(sort)")
      }
      let token = try await list(.newest, size: 2).nextPageToken
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") { try await list(.highestRating, size: 2, token: token) }
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") { try await list(.newest, size: 2, token: "garbage") }
      await expectFailure(.invalidArgument) { try await list(.newest, rating: 6) }
      await expectFailure(.notFound) {
        try await h.reviews.listProductReviews(.with { $0.productId = UUID().uuidString.lowercased() })
      }
      await expectFailure(.notFound) { try await h.reviews.getRatingSummary(.with { $0.productId = UUID().uuidString.lowercased() }) }
    }
  }

  @Test("concurrent creates, edits, deletes and moderation leave the summary equal to a count of the published reviews")
  func exactUnderConcurrency() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let buyers = try await Self.buyers(12, of: product, h)
      let created = try await withThrowingTaskGroup(of: CommerceV1.Review.self) { group in
        for (index, buyer) in buyers.enumerated() {
          group.addTask {
            try await h.reviews.createReview(ReviewHarness.review(product, rating: Int32(index % 5 + 1)), options: buyer.options).review!
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      let byAuthor = Dictionary(uniqueKeysWithValues: created.map { ($0.authorId, $0) })
      try await withThrowingTaskGroup(of: Void.self) { group in
        for (index, buyer) in buyers.enumerated() {
          group.addTask {
            let review = byAuthor[buyer.id]!
            switch index % 4 {
            case 0:
              _ = try await h.reviews.updateReview(
                .with {
                  $0.review = .with {
                    $0.reviewId = review.reviewId
                    $0.rating = 5
                  }
                  $0.updatePaths = ["rating"]
                  $0.expectedVersion = 1
                }, options: buyer.options)
            case 1:
              _ = try await h.reviews.deleteReview(.with { $0.reviewId = review.reviewId }, options: buyer.options)
            case 2:
              _ = try await h.reviews.setReviewStatus(
                .with {
                  $0.reviewId = review.reviewId
                  $0.status = .hidden
                  $0.moderationNote = "spam"
                }, options: h.moderator)
            default:
              break
            }
          }
        }
        try await group.waitForAll()
      }
      var expected = [Int64](repeating: 0, count: 5)
      var token = ""
      repeat {
        let page = try await h.reviews.listProductReviews(
          .with {
            $0.productId = product
            $0.pageSize = 100
            $0.pageToken = token
          })
        for review in page.reviews { expected[Int(review.rating) - 1] += 1 }
        token = page.nextPageToken
      } while !token.isEmpty
      let summary = try await h.summary(product)
      #expect(summary.histogram.map(\.count) == expected)
      #expect(summary.count == 6)  // 12, less 3 deleted and 3 hidden
      let sum = expected.enumerated().reduce(Int64(0)) { $0 + Int64($1.offset + 1) * $1.element }
      #expect(abs(summary.average - Double(sum) / 6) < 1e-9)
      // The catalog ends with the same summary.
      #expect(
        try await eventually {
          try await h.catalog.getProduct(.with { $0.productId = product }).ratingSummary?.histogram.map(\.count) == expected
        })
    }
  }
}
