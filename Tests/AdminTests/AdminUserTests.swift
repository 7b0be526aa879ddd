import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@Suite("AdminService: access, users and sellers")
struct AdminUserTests {
  @Test("every AdminService method refuses customers (PERMISSION_DENIED) and calls without a token (UNAUTHENTICATED)")
  func adminsOnly() async throws {
    try await AdminHarness.run { h in
      let customer = try await h.host.user(roles: [.customer])
      let seller = try await h.host.user(roles: [.seller])
      let id = UUID().uuidString.lowercased()
      for options in [customer, seller] {
        await expectFailure(.permissionDenied) { try await h.service.listUsers(.init(), options: options) }
        await expectFailure(.permissionDenied) {
          try await h.service.suspendUser(.with { $0.userId = id; $0.reason = "spam" }, options: options)
        }
        await expectFailure(.permissionDenied) { try await h.service.reinstateUser(.with { $0.userId = id }, options: options) }
        await expectFailure(.permissionDenied) { try await h.service.approveSeller(.with { $0.userId = id }, options: options) }
        await expectFailure(.permissionDenied) {
          try await h.service.rejectSeller(.with { $0.userId = id; $0.reason = "no" }, options: options)
        }
        await expectFailure(.permissionDenied) {
          try await h.service.moderateReview(.with { $0.reviewId = id; $0.action = .publish }, options: options)
        }
        await expectFailure(.permissionDenied) { try await h.service.getDashboard(.init(), options: options) }
        await expectFailure(.permissionDenied) {
          try await h.service.reindexCatalog(.with { $0.idempotencyKey = UUID().uuidString }, options: options)
        }
        await expectFailure(.permissionDenied) { try await h.service.getOperation(.with { $0.operationId = id }, options: options) }
        await expectFailure(.permissionDenied) { try await h.service.listAuditEvents(.init(), options: options) }
      }
      await expectFailure(.unauthenticated) { try await h.service.listUsers(.init()) }
      await expectFailure(.unauthenticated) { try await h.service.listAuditEvents(.init()) }
      // The refused calls changed nothing.
      #expect(try await h.service.listAuditEvents(.init(), options: h.admin).auditEvents.isEmpty)
    }
  }

  @Test("ListUsers filters by email prefix, seller status and status, newest first, in pages; a foreign token is INVALID_PAGE_TOKEN")
  func listUsers() async throws {
    try await AdminHarness.run { h in
      let prefix = "list" + UUID().uuidString.prefix(6).lowercased()
      let first = try await h.register("First", prefix: prefix).user!
      let second = try await h.register("Second", prefix: prefix, seller: true).user!
      let third = try await h.register("Third", prefix: prefix).user!
      _ = try await h.register("Other", prefix: "other")

      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await h.service.listUsers(
          .with { $0.emailPrefix = prefix.uppercased(); $0.pageSize = 2; $0.pageToken = token }, options: h.admin)
        #expect(page.users.count <= 2)
        seen += page.users.map(\.userId)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == [third.userId, second.userId, first.userId])

      let pending = try await h.service.listUsers(
        .with { $0.emailPrefix = prefix; $0.sellerStatus = .pending }, options: h.admin).users
      #expect(pending.map(\.userId) == [second.userId] && pending.first?.businessName == "Second Audio")

      let paged = try await h.service.listUsers(.with { $0.emailPrefix = prefix; $0.pageSize = 1 }, options: h.admin)
      let foreign = await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.service.listUsers(.with { $0.emailPrefix = "other"; $0.pageToken = paged.nextPageToken }, options: h.admin)
      }
      #expect(foreign?.invalidFields == ["page_token"])
      // Reading writes no audit event.
      #expect(try await h.service.listAuditEvents(.init(), options: h.admin).auditEvents.isEmpty)
    }
  }

  @Test("SuspendUser revokes sessions: the next refresh and logins are refused until ReinstateUser; both are audited once")
  func suspendAndReinstate() async throws {
    try await AdminHarness.run { h in
      let registered = try await h.register("Mallory")
      let user = registered.user!
      let suspended = try await h.service.suspendUser(.with { $0.userId = user.userId; $0.reason = "chargeback fraud" }, options: h.admin).user!
      #expect(suspended.status == .suspended && suspended.suspensionReason == "chargeback fraud")

      await expectFailure(.permissionDenied, reason: "ACCOUNT_SUSPENDED") {
        try await h.auth.refreshToken(.with { $0.refreshToken = registered.tokens!.refreshToken })
      }
      await expectFailure(.permissionDenied, reason: "ACCOUNT_SUSPENDED") {
        try await h.auth.login(.with { $0.email = user.email; $0.password = AdminHarness.password })
      }
      // Suspending again returns the account unchanged and audits nothing new.
      let again = try await h.service.suspendUser(.with { $0.userId = user.userId; $0.reason = "other words" }, options: h.admin).user!
      #expect(again == suspended)
      let events = try await h.audit(target: user.userId)
      #expect(events.count == 1)
      let event = try #require(events.first)
      #expect(event.action == "SuspendUser" && event.actorUserId == h.adminID && event.reason == "chargeback fraud")
      #expect(event.targetKind == "emporium.commerce.v1.User" && event.attributes["previousStatus"] == "USER_STATUS_ACTIVE")

      let listed = try await h.service.listUsers(.with { $0.emailPrefix = user.email; $0.status = .suspended }, options: h.admin).users
      #expect(listed.map(\.userId) == [user.userId])

      let reinstated = try await h.service.reinstateUser(.with { $0.userId = user.userId; $0.note = "cleared" }, options: h.admin).user!
      #expect(reinstated.status == .active && reinstated.suspensionReason.isEmpty)
      let same = try await h.service.reinstateUser(.with { $0.userId = user.userId }, options: h.admin).user!
      #expect(same == reinstated)
      // The sessions revoked by the suspension stay revoked; a new login works.
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") {
        try await h.auth.refreshToken(.with { $0.refreshToken = registered.tokens!.refreshToken })
      }
      let login = try await h.auth.login(.with { $0.email = user.email; $0.password = AdminHarness.password })
      #expect(login.user?.userId == user.userId)
      let log = try await h.audit(target: user.userId)
      #expect(log.map(\.action) == ["ReinstateUser", "SuspendUser"])
      #expect(log.first?.reason == "cleared" && log.first?.attributes["suspensionReason"] == "chargeback fraud")
    }
  }

  @Test("SuspendUser and ReinstateUser errors: empty reason, unknown user, the last active admin (oneself included)")
  func suspendErrors() async throws {
    try await AdminHarness.run { h in
      let user = try await h.register().user!
      for reason in ["", "   ", String(repeating: "x", count: 1001)] {
        let bad = await expectFailure(.invalidArgument) {
          try await h.service.suspendUser(.with { $0.userId = user.userId; $0.reason = reason }, options: h.admin)
        }
        #expect(bad?.invalidFields == ["reason"])
      }
      let unknown = UUID().uuidString.lowercased()
      await expectFailure(.notFound) {
        try await h.service.suspendUser(.with { $0.userId = unknown; $0.reason = "spam" }, options: h.admin)
      }
      await expectFailure(.notFound) { try await h.service.reinstateUser(.with { $0.userId = unknown }, options: h.admin) }
      let note = await expectFailure(.invalidArgument) {
        try await h.service.reinstateUser(.with { $0.userId = user.userId; $0.note = String(repeating: "x", count: 1001) }, options: h.admin)
      }
      #expect(note?.invalidFields == ["note"])

      // The only admin account suspends itself.
      let adminAccount = try await h.register("Root").user!
      _ = try await h.auth.assignRole(.with { $0.userId = adminAccount.userId; $0.role = .admin }, options: try await h.host.service("admin"))
      let root = try await h.host.user(adminAccount.userId, roles: [.admin])
      await expectFailure(.failedPrecondition, reason: "LAST_ADMIN") {
        try await h.service.suspendUser(.with { $0.userId = adminAccount.userId; $0.reason = "leaving" }, options: root)
      }
      #expect(try await h.auth.getUser(.with { $0.userId = adminAccount.userId }, options: h.admin).user?.status == .active)
      let untouched = try await h.audit(target: adminAccount.userId)
      #expect(untouched.isEmpty)
      let untouchedUser = try await h.audit(target: user.userId)
      #expect(untouchedUser.isEmpty)
    }
  }

  @Test("ApproveSeller grants ROLE_SELLER from the next refresh; repeats change nothing; only pending applications qualify")
  func approveSeller() async throws {
    try await AdminHarness.run { h in
      let applicant = try await h.register("Grace", seller: true)
      let user = applicant.user!
      #expect(user.sellerStatus == .pending && !user.roles.contains(.seller))
      let approved = try await h.service.approveSeller(.with { $0.userId = user.userId; $0.note = "documents checked" }, options: h.admin).user!
      #expect(approved.sellerStatus == .approved && approved.roles.contains(.seller))
      let again = try await h.service.approveSeller(.with { $0.userId = user.userId }, options: h.admin).user!
      #expect(again == approved)

      // The role reaches the seller's tokens at the next refresh.
      let refreshed = try await h.auth.refreshToken(.with { $0.refreshToken = applicant.tokens!.refreshToken }).tokens!
      let me = try await h.auth.whoAmI(.init(), options: TestApp.bearer(refreshed.accessToken)).principal!
      #expect(me.roles.contains(.seller))

      let events = try await h.audit(target: user.userId)
      #expect(events.map(\.action) == ["ApproveSeller"])
      #expect(events.first?.reason == "documents checked" && events.first?.attributes["previousSellerStatus"] == "SELLER_STATUS_PENDING")

      let customer = try await h.register("Bob").user!
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.service.approveSeller(.with { $0.userId = customer.userId }, options: h.admin)
      }
      #expect(try await h.auth.getUser(.with { $0.userId = customer.userId }, options: h.admin).user?.roles == [.customer])
      await expectFailure(.notFound) {
        try await h.service.approveSeller(.with { $0.userId = UUID().uuidString.lowercased() }, options: h.admin)
      }
      let empty = await expectFailure(.invalidArgument) { try await h.service.approveSeller(.init(), options: h.admin) }
      #expect(empty?.invalidFields == ["user_id"])
      let untouched = try await h.audit(target: customer.userId)
      #expect(untouched.isEmpty)
    }
  }

  @Test("RejectSeller rejects a pending application with an audited reason; then it can be neither approved nor rejected anew")
  func rejectSeller() async throws {
    try await AdminHarness.run { h in
      let user = try await h.register("Eve", seller: true).user!
      let bad = await expectFailure(.invalidArgument) {
        try await h.service.rejectSeller(.with { $0.userId = user.userId; $0.reason = " " }, options: h.admin)
      }
      #expect(bad?.invalidFields == ["reason"])
      let rejected = try await h.service.rejectSeller(.with { $0.userId = user.userId; $0.reason = "no business address" }, options: h.admin).user!
      #expect(rejected.sellerStatus == .rejected && !rejected.roles.contains(.seller))
      let again = try await h.service.rejectSeller(.with { $0.userId = user.userId; $0.reason = "other" }, options: h.admin).user!
      #expect(again == rejected)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.service.approveSeller(.with { $0.userId = user.userId }, options: h.admin)
      }
      let events = try await h.audit(target: user.userId)
      #expect(events.map(\.action) == ["RejectSeller"] && events.first?.reason == "no business address")
      #expect(events.first?.attributes["businessName"] == "Eve Audio")
      let pending = try await h.service.listUsers(.with { $0.emailPrefix = user.email; $0.sellerStatus = .rejected }, options: h.admin)
      #expect(pending.users.map(\.userId) == [user.userId])

      // Never applied, or approved: no pending application.
      let customer = try await h.register("Bob").user!
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.service.rejectSeller(.with { $0.userId = customer.userId; $0.reason = "no" }, options: h.admin)
      }
      let approved = try await h.register("Ann", seller: true).user!
      _ = try await h.service.approveSeller(.with { $0.userId = approved.userId }, options: h.admin)
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.service.rejectSeller(.with { $0.userId = approved.userId; $0.reason = "changed my mind" }, options: h.admin)
      }
      await expectFailure(.notFound) {
        try await h.service.rejectSeller(.with { $0.userId = UUID().uuidString.lowercased(); $0.reason = "no" }, options: h.admin)
      }
      // The primitive behind it admits the AdminService identity only, not ADMIN users.
      await expectFailure(.permissionDenied) {
        try await h.auth.rejectSellerApplication(.with { $0.userId = approved.userId }, options: h.admin)
      }
    }
  }
}
