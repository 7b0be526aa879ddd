import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@Suite("AdminService: moderation, catalog reindex, the audit log")
struct AdminOperationsTests {
  /// A published review by a customer who received the product.
  static func review(_ h: AdminHarness) async throws -> (review: CommerceV1.Review, author: CallOptions) {
    let seller = try await h.host.seller()
    let category = try await h.host.category(admin: h.admin)
    let warehouse = try await h.host.warehouse(admin: h.admin)
    let product = try await h.host.product(category: category, warehouse: warehouse, stock: 10, seller: seller.options)
    let customer = try await h.register("Ada").user!
    let author = try await h.host.user(customer.userId, roles: [.customer])
    let orders = CommerceV1.OrderService.Client(h.host.connection)
    let order = try await orders.checkout(TestApp.checkout([(product.productId, 1)]), options: author).order!
    _ = try await h.host.deliver(order)
    let review = try await h.reviews.createReview(
      .with {
        $0.productId = product.productId
        $0.rating = 1
        $0.title = "Broke in a day"
        $0.body = "Buy elsewhere."
        $0.idempotencyKey = UUID().uuidString
      }, options: author
    ).review!
    return (review, author)
  }

  @Test("ModerateReview hides (the author still sees it, with the reason), publishes and deletes; repeats audit nothing new")
  func moderate() async throws {
    try await AdminHarness.run { h in
      let (review, author) = try await Self.review(h)
      let id = review.reviewId
      func moderate(_ action: CommerceV1.ModerationAction, _ reason: String = "") async throws -> CommerceV1.ModerateReviewResponse {
        try await h.service.moderateReview(.with { $0.reviewId = id; $0.action = action; $0.reason = reason }, options: h.admin)
      }
      let hidden = try #require(try await moderate(.hide, "abusive language").review)
      #expect(hidden.status == .hidden && hidden.moderationNote == "abusive language")
      await expectFailure(.notFound) { try await h.reviews.getReview(.with { $0.reviewId = id }) }
      let seenByAuthor = try await h.reviews.getReview(.with { $0.reviewId = id }, options: author).review!
      #expect(seenByAuthor.status == .hidden && seenByAuthor.moderationNote == "abusive language")
      #expect(try await moderate(.hide, "again").review == hidden)

      let published = try #require(try await moderate(.publish).review)
      #expect(published.status == .published && published.moderationNote.isEmpty)
      #expect(try await h.reviews.getReview(.with { $0.reviewId = id }).review?.status == .published)

      let deleted = try await moderate(.delete, "spam")
      #expect(deleted.review == nil)
      await expectFailure(.notFound) { try await h.reviews.getReview(.with { $0.reviewId = id }, options: author) }
      // Deleting a deleted review succeeds; publishing or hiding it is NOT_FOUND.
      _ = try await moderate(.delete, "spam")
      await expectFailure(.notFound) { try await moderate(.publish) }
      await expectFailure(.notFound) { try await moderate(.hide, "gone") }

      let events = try await h.audit(target: id)
      #expect(events.map { $0.attributes["action"] } == ["MODERATION_ACTION_DELETE", "MODERATION_ACTION_PUBLISH", "MODERATION_ACTION_HIDE"])
      #expect(events.allSatisfy { $0.action == "ModerateReview" && $0.targetKind == "emporium.commerce.v1.Review" && $0.actorUserId == h.adminID })
      #expect(events.last?.reason == "abusive language" && events.last?.attributes["previousStatus"] == "REVIEW_STATUS_PUBLISHED")
    }
  }

  @Test("ModerateReview needs a review id, an action, and a reason for HIDE and DELETE")
  func moderateErrors() async throws {
    try await AdminHarness.run { h in
      let id = UUID().uuidString.lowercased()
      let cases: [(CommerceV1.ModerationAction, String, String)] = [
        (.hide, "", "reason"), (.delete, " ", "reason"), (.unspecified, "x", "action"),
        (.publish, String(repeating: "x", count: 1001), "reason"),
      ]
      for (action, reason, field) in cases {
        let bad = await expectFailure(.invalidArgument) {
          try await h.service.moderateReview(.with { $0.reviewId = id; $0.action = action; $0.reason = reason }, options: h.admin)
        }
        #expect(bad?.invalidFields == [field])
      }
      let missing = await expectFailure(.invalidArgument) {
        try await h.service.moderateReview(.with { $0.action = .publish }, options: h.admin)
      }
      #expect(missing?.invalidFields == ["review_id"])
      await expectFailure(.notFound) {
        try await h.service.moderateReview(.with { $0.reviewId = id; $0.action = .hide; $0.reason = "abuse" }, options: h.admin)
      }
      let untouched = try await h.audit(target: id)
      #expect(untouched.isEmpty)
    }
  }

  @Test("ReindexCatalog starts one operation per key; GetOperation follows it to SUCCEEDED; unknown operations are NOT_FOUND")
  func reindex() async throws {
    try await AdminHarness.run { h in
      let key = UUID().uuidString
      let started = try #require(try await h.service.reindexCatalog(.with { $0.idempotencyKey = key }, options: h.admin).operation)
      #expect(started.kind == .reindexCatalog && started.requestedByUserId == h.adminID)
      let accepted: [CommerceV1.OperationState] = [.pending, .running, .succeeded]
      #expect(accepted.contains(started.state))
      let retried = try await h.service.reindexCatalog(.with { $0.idempotencyKey = key }, options: h.admin).operation
      #expect(retried?.operationId == started.operationId)

      var last = started
      #expect(
        try await eventually {
          last = try await h.service.getOperation(.with { $0.operationId = started.operationId }, options: h.admin).operation!
          return last.state == .succeeded || last.state == .failed
        })
      #expect(last.state == .succeeded && last.progressPercent == 100 && last.finishTime != nil && last.errorCode == 0)
      let job = try await h.catalog.getSearchReindexJob(.with { $0.jobId = started.operationId }, options: h.admin).job
      #expect(job?.state == .succeeded)

      let events = try await h.audit(target: started.operationId)
      #expect(events.map(\.action) == ["ReindexCatalog"] && events.first?.targetKind == "emporium.commerce.v1.AdminOperation")

      let noKey = await expectFailure(.invalidArgument) { try await h.service.reindexCatalog(.init(), options: h.admin) }
      #expect(noKey?.invalidFields == ["idempotency_key"])
      await expectFailure(.notFound) {
        try await h.service.getOperation(.with { $0.operationId = UUID().uuidString.lowercased() }, options: h.admin)
      }
      await expectFailure(.notFound) { try await h.service.getOperation(.with { $0.operationId = "nope" }, options: h.admin) }
    }
  }

  @Test("ReindexCatalog while a reindex runs is FAILED_PRECONDITION naming the running operation, and records nothing")
  func reindexWhileRunning() async throws {
    try await AdminHarness.run { h in
      // Arrangement: a catalog job left RUNNING by a stopped server, its lease still valid.
      try await h.host.pool.query(
        "INSERT INTO catalog.reindex_jobs (id, state, started_at, lease_expires_at) VALUES ('stuck', 'RUNNING', now(), now() + interval '1 hour')")
      let busy = await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.service.reindexCatalog(.with { $0.idempotencyKey = UUID().uuidString }, options: h.admin)
      }
      #expect(busy?.commerceMetadata["operationId"] == "stuck")
      #expect(try await h.service.listAuditEvents(.init(), options: h.admin).auditEvents.isEmpty)
      // Once the lease lapses, the next reindex runs.
      try await h.host.pool.query("UPDATE catalog.reindex_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = 'stuck'")
      let operation = try await h.service.reindexCatalog(.with { $0.idempotencyKey = UUID().uuidString }, options: h.admin).operation
      #expect(operation?.kind == .reindexCatalog)
    }
  }

  @Test("ListAuditEvents pages newest first, filters by actor, target and time; a foreign token is INVALID_PAGE_TOKEN")
  func auditLog() async throws {
    try await AdminHarness.run { h in
      let other = UUID().uuidString.lowercased()
      let otherAdmin = try await h.host.user(other, roles: [.admin])
      var users: [String] = []
      for index in 0..<3 {
        let user = try await h.register("User\(index)").user!
        users.append(user.userId)
        _ = try await h.service.suspendUser(
          .with { $0.userId = user.userId; $0.reason = "r\(index)" }, options: index == 1 ? otherAdmin : h.admin)
      }
      var seen: [CommerceV1.AuditEvent] = []
      var token = ""
      repeat {
        let page = try await h.service.listAuditEvents(.with { $0.pageSize = 2; $0.pageToken = token }, options: h.admin)
        seen += page.auditEvents
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen.map(\.targetId) == users.reversed())
      #expect(seen.map(\.reason) == ["r2", "r1", "r0"])

      let byOther = try await h.service.listAuditEvents(.with { $0.actorUserId = other }, options: h.admin).auditEvents
      #expect(byOther.map(\.targetId) == [users[1]])
      let middle = seen[1].createTime!
      let since = try await h.service.listAuditEvents(.with { $0.minCreateTime = middle }, options: h.admin).auditEvents
      #expect(since.map(\.targetId) == [users[2], users[1]])
      let until = try await h.service.listAuditEvents(.with { $0.maxCreateTime = middle }, options: h.admin).auditEvents
      #expect(until.map(\.targetId) == [users[0]])

      let first = try await h.service.listAuditEvents(.with { $0.pageSize = 1 }, options: h.admin)
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.service.listAuditEvents(.with { $0.actorUserId = other; $0.pageToken = first.nextPageToken }, options: h.admin)
      }
      await expectFailure(.invalidArgument) { try await h.service.listAuditEvents(.with { $0.pageSize = -1 }, options: h.admin) }
    }
  }
}
