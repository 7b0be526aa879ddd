import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@Suite("ReviewService: verified purchasers, edits, moderation, replies")
struct ReviewTests {
  @Test("a customer who received the product reviews it once; retries return the same review; the catalog learns the summary")
  func createOnce() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let (ada, customer) = try await h.customer("Ada")
      let order = try await h.order([product], for: customer)
      let request = ReviewHarness.review(product, rating: 4)
      let review = try await h.reviews.createReview(request, options: customer).review!
      #expect(review.status == .published && review.rating == 4 && review.authorId == ada && review.version == 1)
      #expect(review.orderId == order.orderId && review.authorDisplayName == "Ada")
      // The same key returns the same review; another key finds the one review.
      let retried = try await h.reviews.createReview(request, options: customer).review!
      #expect(retried.reviewId == review.reviewId)
      let again = await expectFailure(.alreadyExists, reason: "REVIEW_EXISTS") {
        try await h.reviews.createReview(ReviewHarness.review(product, rating: 1), options: customer)
      }
      #expect(again?.commerceMetadata["reviewId"] == review.reviewId)

      let summary = try await h.summary(product)
      #expect(summary.count == 1 && summary.average == 4 && summary.histogram.map(\.count) == [0, 0, 0, 1, 0])
      // Anyone reads it.
      let anonymous = try await h.reviews.getReview(.with { $0.reviewId = review.reviewId }).review!
      #expect(anonymous.title == "Great sound")
      // The outbox relay carries the summary to the catalog's product page.
      #expect(try await eventually { try await h.catalog.getProduct(.with { $0.productId = product }).ratingSummary?.count == 1 })
    }
  }

  @Test("only customers who received the product may review it; bad input names its field")
  func verifiedPurchasersOnly() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let other = try await h.product(title: "Speaker")
      let (_, customer) = try await h.customer()
      // Ordered but not delivered yet; delivered, but another product.
      try await h.order([product], for: customer, deliver: false)
      try await h.order([other], for: customer)
      await expectFailure(.permissionDenied, reason: "NOT_VERIFIED_PURCHASER") {
        try await h.reviews.createReview(ReviewHarness.review(product, rating: 5), options: customer)
      }
      let (_, stranger) = try await h.customer("Bob")
      await expectFailure(.permissionDenied, reason: "NOT_VERIFIED_PURCHASER") {
        try await h.reviews.createReview(ReviewHarness.review(other, rating: 5), options: stranger)
      }
      await expectFailure(.notFound) {
        try await h.reviews.createReview(ReviewHarness.review(UUID().uuidString.lowercased(), rating: 5), options: customer)
      }
      let bad = await expectFailure(.invalidArgument) {
        try await h.reviews.createReview(
          ReviewHarness.review(other, rating: 6, title: "", body: String(repeating: "x", count: 5001)), options: customer)
      }
      #expect(Set(bad?.invalidFields ?? []) == ["rating", "title", "body"])
      await expectFailure(.unauthenticated) { try await h.reviews.createReview(ReviewHarness.review(other, rating: 5)) }
      // Nothing was written by the refused calls.
      #expect(try await h.summary(product).count == 0)
      #expect(try await h.summary(other).count == 0)
    }
  }

  @Test("the author edits with expected_version, the summary follows the rating; another customer's edit reads NOT_FOUND")
  func edits() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let (_, customer) = try await h.customer()
      try await h.order([product], for: customer)
      let review = try await h.reviews.createReview(ReviewHarness.review(product, rating: 5), options: customer).review!
      func update(_ paths: [String], version: Int64, as caller: CallOptions, _ change: (inout CommerceV1.Review) -> Void) async throws
        -> CommerceV1.Review
      {
        var values = CommerceV1.Review.with { $0.reviewId = review.reviewId }
        change(&values)
        return try await h.reviews.updateReview(
          .with {
            $0.review = values
            $0.updatePaths = paths
            $0.expectedVersion = version
          }, options: caller
        ).review!
      }
      let edited = try await update(["rating", "body"], version: 1, as: customer) {
        $0.rating = 2
        $0.body = "The left ear cup broke."
        $0.title = "ignored: not in update_paths"
      }
      #expect(edited.rating == 2 && edited.body == "The left ear cup broke." && edited.title == "Great sound" && edited.version == 2)
      #expect(try await h.summary(product).histogram.map(\.count) == [0, 1, 0, 0, 0])
      // A blind repeat of the same edit is stale now.
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") { try await update(["rating"], version: 1, as: customer) { $0.rating = 2 } }
      let invalid = await expectFailure(.invalidArgument) { try await update(["rating", "author_id"], version: 2, as: customer) { $0.rating = 0 } }
      #expect(Set(invalid?.invalidFields ?? []) == ["review.rating", "update_paths[1]"])
      await expectFailure(.invalidArgument) { try await update([], version: 2, as: customer) { _ in } }
      let (_, other) = try await h.customer("Bob")
      await expectFailure(.notFound) { try await update(["rating"], version: 2, as: other) { $0.rating = 5 } }
      #expect(try await h.reviews.getReview(.with { $0.reviewId = review.reviewId }).review!.rating == 2)
    }
  }

  @Test("moderation: hidden reviews are seen by their author and admins only, and leave the summary; only the admin service moderates")
  func moderation() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let (_, author) = try await h.customer()
      try await h.order([product], for: author)
      let review = try await h.reviews.createReview(ReviewHarness.review(product, rating: 1), options: author).review!
      func set(_ status: CommerceV1.ReviewStatus, note: String = "", as caller: CallOptions) async throws -> CommerceV1.Review {
        try await h.reviews.setReviewStatus(
          .with {
            $0.reviewId = review.reviewId
            $0.status = status
            $0.moderationNote = note
          }, options: caller
        ).review!
      }
      await expectFailure(.permissionDenied) { try await set(.hidden, note: "abuse", as: h.admin) }
      await expectFailure(.invalidArgument) { try await set(.hidden, as: h.moderator) }
      await expectFailure(.invalidArgument) { try await set(.unspecified, as: h.moderator) }
      let hidden = try await set(.hidden, note: "Contains a phone number.", as: h.moderator)
      #expect(hidden.status == .hidden && hidden.moderationNote == "Contains a phone number.")
      #expect(try await set(.hidden, note: "again", as: h.moderator).version == hidden.version)  // no change
      #expect(try await h.summary(product).count == 0)

      let get = CommerceV1.GetReviewRequest.with { $0.reviewId = review.reviewId }
      await expectFailure(.notFound) { try await h.reviews.getReview(get) }
      let (_, stranger) = try await h.customer("Bob")
      await expectFailure(.notFound) { try await h.reviews.getReview(get, options: stranger) }
      #expect(try await h.reviews.getReview(get, options: author).review!.moderationNote == "Contains a phone number.")
      #expect(try await h.reviews.getReview(get, options: h.admin).review!.status == .hidden)
      #expect(try await h.reviews.listProductReviews(.with { $0.productId = product }).reviews.isEmpty)
      // The author cannot edit a hidden review.
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.reviews.updateReview(
          .with {
            $0.review = .with {
              $0.reviewId = review.reviewId
              $0.rating = 5
            }
            $0.updatePaths = ["rating"]
            $0.expectedVersion = hidden.version
          }, options: author)
      }
      let published = try await set(.published, as: h.moderator)
      #expect(published.status == .published && published.moderationNote.isEmpty)
      #expect(try await h.summary(product).count == 1)
    }
  }

  @Test("deleting: the author or an admin; a repeat succeeds with deleted false; the author may then review again")
  func delete() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let (_, author) = try await h.customer()
      try await h.order([product], for: author)
      let review = try await h.reviews.createReview(ReviewHarness.review(product, rating: 3), options: author).review!
      let request = CommerceV1.DeleteReviewRequest.with { $0.reviewId = review.reviewId }
      let (_, stranger) = try await h.customer("Bob")
      await expectFailure(.notFound) { try await h.reviews.deleteReview(request, options: stranger) }
      #expect(try await h.reviews.deleteReview(request, options: author).deleted)
      #expect(try await !h.reviews.deleteReview(request, options: author).deleted)
      #expect(try await h.summary(product).count == 0)
      await expectFailure(.notFound) { try await h.reviews.getReview(.with { $0.reviewId = review.reviewId }) }
      let second = try await h.reviews.createReview(ReviewHarness.review(product, rating: 4), options: author).review!
      #expect(try await h.reviews.deleteReview(.with { $0.reviewId = second.reviewId }, options: h.admin).deleted)
      let third = try await h.reviews.createReview(ReviewHarness.review(product, rating: 4), options: author).review!
      #expect(try await h.reviews.deleteReview(.with { $0.reviewId = third.reviewId }, options: h.moderator).deleted)
      #expect(try await h.summary(product).count == 0)
    }
  }

  @Test("the product's seller replies, changes and removes the reply; another seller reads NOT_FOUND; customers are refused")
  func replies() async throws {
    try await ReviewHarness.run { h in
      let product = try await h.product()
      let (_, author) = try await h.customer()
      try await h.order([product], for: author)
      let review = try await h.reviews.createReview(ReviewHarness.review(product, rating: 2), options: author).review!
      func reply(_ body: String, as caller: CallOptions) async throws -> CommerceV1.Review {
        try await h.reviews.replyToReview(
          .with {
            $0.reviewId = review.reviewId
            $0.body = body
          }, options: caller
        ).review!
      }
      let replied = try await reply("Sorry, we are sending a new pair.", as: h.seller)
      #expect(replied.sellerReply?.body == "Sorry, we are sending a new pair." && replied.sellerReply?.authorId == h.sellerID)
      #expect(replied.version == review.version)
      let read = try await h.reviews.getReview(.with { $0.reviewId = review.reviewId }).review!
      #expect(read.sellerReply?.body == "Sorry, we are sending a new pair.")
      let changed = try await reply("Sent: tracking 1Z999.", as: h.seller)
      #expect(changed.sellerReply?.body == "Sent: tracking 1Z999." && changed.sellerReply?.createTime == replied.sellerReply?.createTime)

      let otherSeller = try await h.host.seller("Other Audio")
      await expectFailure(.notFound) { try await reply("Buy ours instead.", as: otherSeller.options) }
      await expectFailure(.permissionDenied) { try await reply("Me too.", as: author) }
      await expectFailure(.invalidArgument) { try await reply(String(repeating: "x", count: 2001), as: h.seller) }
      #expect(try await reply("", as: h.admin).sellerReply == nil)
    }
  }
}
