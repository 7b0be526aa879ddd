import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import RPCTestSupport
import TestSupport
import Testing

@testable import CommerceAuth

@Suite("AuthService: service identities, accounts, roles and status")
struct AccountAdministrationTests {
  @Test("IssueServiceToken: a provisioned identity gets a 1-hour service token")
  func serviceToken() async throws {
    try await AuthHarness.run { h in
      let secret = AuthService.generateClientSecret()
      try await AuthService.provisionServiceIdentity(name: "orders", clientSecret: secret, pool: h.pool, hasher: AuthHarness.testHasher)
      let issued = try await h.client.issueServiceToken(.with {
        $0.serviceName = "orders"
        $0.clientSecret = secret
      })
      #expect(issued.expireTime == GoogleProtobuf.Timestamp(h.clock.now.addingTimeInterval(3600)))
      let me = try await h.client.whoAmI(.init(), options: AuthHarness.bearer(issued.accessToken))
      #expect(me.principal?.kind == .service)
      #expect(me.principal?.serviceName == "orders")
      #expect(me.principal?.userId == "")
      #expect(me.principal?.user == nil)
      // A service the WhoAmI rule does not name is refused.
      try await AuthService.provisionServiceIdentity(name: "stranger", clientSecret: secret, pool: h.pool, hasher: AuthHarness.testHasher)
      let stranger = try await h.client.issueServiceToken(.with {
        $0.serviceName = "stranger"
        $0.clientSecret = secret
      })
      await expectFailure(.permissionDenied) { try await h.client.whoAmI(.init(), options: AuthHarness.bearer(stranger.accessToken)) }
    }
  }

  @Test("IssueServiceToken: unknown name and wrong secret read alike; a disabled identity is PERMISSION_DENIED")
  func serviceTokenErrors() async throws {
    try await AuthHarness.run { h in
      let secret = AuthService.generateClientSecret()
      try await AuthService.provisionServiceIdentity(name: "payments", clientSecret: secret, pool: h.pool, hasher: AuthHarness.testHasher)
      let wrong = await expectFailure(.unauthenticated) {
        try await h.client.issueServiceToken(.with {
          $0.serviceName = "payments"
          $0.clientSecret = secret + "x"
        })
      }
      let unknown = await expectFailure(.unauthenticated) {
        try await h.client.issueServiceToken(.with {
          $0.serviceName = "shipping"
          $0.clientSecret = secret
        })
      }
      #expect(wrong?.message == unknown?.message)
      try await AuthService.provisionServiceIdentity(
        name: "payments", clientSecret: secret, enabled: false, pool: h.pool, hasher: AuthHarness.testHasher)
      await expectFailure(.permissionDenied) {
        try await h.client.issueServiceToken(.with {
          $0.serviceName = "payments"
          $0.clientSecret = secret
        })
      }
      // The disabled state is told only to a caller holding the secret.
      await expectFailure(.unauthenticated) {
        try await h.client.issueServiceToken(.with {
          $0.serviceName = "payments"
          $0.clientSecret = "not the secret at all"
        })
      }
      await #expect(throws: CommerceError.self) {
        try await AuthService.provisionServiceIdentity(name: "Bad Name", clientSecret: secret, pool: h.pool, hasher: AuthHarness.testHasher)
      }
      await #expect(throws: CommerceError.self) {
        try await AuthService.provisionServiceIdentity(name: "short", clientSecret: "short", pool: h.pool, hasher: AuthHarness.testHasher)
      }
    }
  }

  @Test("ensureServiceIdentity creates an identity once and hands out its secret once")
  func ensureServiceIdentity() async throws {
    try await AuthHarness.run { h in
      let secret = try #require(try await AuthService.ensureServiceIdentity(name: "notifications", pool: h.pool, hasher: AuthHarness.testHasher))
      #expect(try await AuthService.ensureServiceIdentity(name: "notifications", pool: h.pool, hasher: AuthHarness.testHasher) == nil)
      let issued = try await h.client.issueServiceToken(.with {
        $0.serviceName = "notifications"
        $0.clientSecret = secret
      })
      #expect(try await h.client.whoAmI(.init(), options: AuthHarness.bearer(issued.accessToken)).principal?.serviceName == "notifications")
      await #expect(throws: CommerceError.self) {
        try await AuthService.ensureServiceIdentity(name: "-bad", pool: h.pool, hasher: AuthHarness.testHasher)
      }
    }
  }

  @Test("the bootstrap admin is created once, with a password that logs in")
  func bootstrapAdmin() async throws {
    try await AuthHarness.run { h in
      let admin = try #require(try await h.service.ensureBootstrapAdmin())
      #expect(admin.password.count >= PasswordPolicy.minimumLength)
      #expect(!"\(admin)".contains(admin.password))
      #expect(try await h.service.ensureBootstrapAdmin() == nil)
      let login = try await h.login(admin.email, password: admin.password)
      #expect(login.user?.roles == [.customer, .admin])
      #expect(login.user?.userId == admin.userID)
    }
  }

  @Test("GetUser: admins and the named services read any account; NOT_FOUND; customers are refused")
  func getUser() async throws {
    try await AuthHarness.run { h in
      let user = try #require(try await h.register("xena@example.com").user)
      let (_, admin) = try await h.adminUser()
      #expect(try await h.client.getUser(.with { $0.userId = user.userId }, options: admin).user == user)
      let catalog = AuthHarness.bearer(try await h.serviceToken("catalog"))
      #expect(try await h.client.getUser(.with { $0.userId = user.userId }, options: catalog).user?.email == "xena@example.com")
      await expectFailure(.notFound) { try await h.client.getUser(.with { $0.userId = UUID().uuidString.lowercased() }, options: admin) }
      await expectFailure(.notFound) { try await h.client.getUser(.with { $0.userId = "not-an-id" }, options: admin) }
      let customer = AuthHarness.bearer(try await h.login("xena@example.com").tokens!.accessToken)
      await expectFailure(.permissionDenied) { try await h.client.getUser(.with { $0.userId = user.userId }, options: customer) }
      let orders = AuthHarness.bearer(try await h.serviceToken("orders"))
      await expectFailure(.permissionDenied) { try await h.client.getUser(.with { $0.userId = user.userId }, options: orders) }
      await expectFailure(.unauthenticated) { try await h.client.getUser(.with { $0.userId = user.userId }) }
    }
  }

  @Test("ListAccounts: newest first, keyset pages, filters, and tokens bound to their filters")
  func listAccounts() async throws {
    try await AuthHarness.run { h in
      var created: [CommerceV1.User] = []
      for index in 0..<5 {
        h.clock.advance(1)
        let seller = index % 2 == 0 ? CommerceV1.SellerApplication.with {
          $0.businessName = "Shop \(index)"
          $0.regionCode = "FR"
        } : nil
        created.append(try #require(try await h.register("list\(index)@example.com", seller: seller).user))
      }
      h.clock.advance(1)
      try await h.register("other@example.org")
      let admin = try await h.asAdminService()

      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await h.client.listAccounts(.with {
          $0.pageSize = 2
          $0.pageToken = token
          $0.emailPrefix = "LIST"
        }, options: admin)
        #expect(page.users.count <= 2)
        seen += page.users.map(\.userId)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == created.reversed().map(\.userId))

      let all = try await h.client.listAccounts(.init(), options: admin)
      #expect(all.users.count == 6)
      #expect(all.nextPageToken.isEmpty)
      #expect(all.users.first?.email == "other@example.org")

      let pending = try await h.client.listAccounts(.with { $0.sellerStatus = .pending }, options: admin)
      #expect(pending.users.map(\.email) == ["list4@example.com", "list2@example.com", "list0@example.com"])
      _ = try await h.client.assignRole(.with {
        $0.userId = created[2].userId
        $0.role = .seller
      }, options: admin)
      let sellers = try await h.client.listAccounts(.with { $0.role = .seller }, options: admin)
      #expect(sellers.users.map(\.email) == ["list2@example.com"])
      _ = try await h.client.setUserStatus(.with {
        $0.userId = created[1].userId
        $0.status = .suspended
        $0.reason = "spam"
      }, options: admin)
      let suspended = try await h.client.listAccounts(.with { $0.status = .suspended }, options: admin)
      #expect(suspended.users.map(\.email) == ["list1@example.com"])
      #expect(suspended.users.first?.suspensionReason == "spam")

      let first = try await h.client.listAccounts(.with { $0.pageSize = 1 }, options: admin)
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.client.listAccounts(.with {
          $0.pageSize = 1
          $0.pageToken = first.nextPageToken
          $0.role = .customer
        }, options: admin)
      }
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.client.listAccounts(.with { $0.pageToken = "garbage" }, options: admin)
      }
      await expectFailure(.invalidArgument) { try await h.client.listAccounts(.with { $0.pageSize = -1 }, options: admin) }
      let capped = try await h.client.listAccounts(.with { $0.pageSize = 10_000 }, options: admin)
      #expect(capped.users.count == 6)

      // Admin users go through AdminService.ListUsers; only the AdminService identity calls this.
      let (_, adminUser) = try await h.adminUser()
      await expectFailure(.permissionDenied) { try await h.client.listAccounts(.init(), options: adminUser) }
    }
  }

  @Test("AssignRole: SELLER approves a pending application; idempotent; VERSION_MISMATCH; NOT_FOUND; ROLE_UNSPECIFIED")
  func assignRole() async throws {
    try await AuthHarness.run { h in
      let user = try #require(try await h.register("yara@example.com", seller: .with {
        $0.businessName = "Yara's"
        $0.regionCode = "IT"
      }).user)
      let (_, admin) = try await h.adminUser()
      h.clock.advance(5)
      let granted = try #require(try await h.client.assignRole(.with {
        $0.userId = user.userId
        $0.role = .seller
        $0.expectedVersion = 1
      }, options: admin).user)
      #expect(granted.roles == [.customer, .seller])
      #expect(granted.sellerStatus == .approved)
      #expect(granted.version == 2)
      #expect(granted.updateTime == GoogleProtobuf.Timestamp(h.clock.now))
      let again = try await h.client.assignRole(.with {
        $0.userId = user.userId
        $0.role = .seller
      }, options: admin).user
      #expect(again == granted)
      let stale = await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.client.assignRole(.with {
          $0.userId = user.userId
          $0.role = .deliveryPartner
          $0.expectedVersion = 1
        }, options: admin)
      }
      #expect(stale?.commerceMetadata["currentVersion"] == "2")
      await expectFailure(.notFound) {
        try await h.client.assignRole(.with {
          $0.userId = UUID().uuidString.lowercased()
          $0.role = .seller
        }, options: admin)
      }
      await expectFailure(.invalidArgument) {
        try await h.client.assignRole(.with { $0.userId = user.userId }, options: admin)
      }
      // The AdminService identity may call it too; a customer may not.
      _ = try await h.client.assignRole(.with {
        $0.userId = user.userId
        $0.role = .deliveryPartner
      }, options: try await h.asAdminService())
      let customer = AuthHarness.bearer(try await h.login("yara@example.com").tokens!.accessToken)
      await expectFailure(.permissionDenied) {
        try await h.client.assignRole(.with {
          $0.userId = user.userId
          $0.role = .admin
        }, options: customer)
      }
    }
  }

  @Test("RevokeRole: idempotent, ROLE_CUSTOMER stays, never the last active ADMIN, VERSION_MISMATCH")
  func revokeRole() async throws {
    try await AuthHarness.run { h in
      let (adminUser, admin) = try await h.adminUser()
      let user = try #require(try await h.register("zed@example.com").user)
      await expectFailure(.invalidArgument) {
        try await h.client.revokeRole(.with {
          $0.userId = user.userId
          $0.role = .customer
        }, options: admin)
      }
      let unchanged = try await h.client.revokeRole(.with {
        $0.userId = user.userId
        $0.role = .seller
      }, options: admin).user
      #expect(unchanged == user)
      await expectFailure(.failedPrecondition, reason: "LAST_ADMIN") {
        try await h.client.revokeRole(.with {
          $0.userId = adminUser.userId
          $0.role = .admin
        }, options: admin)
      }
      let second = try #require(try await h.client.assignRole(.with {
        $0.userId = user.userId
        $0.role = .admin
      }, options: admin).user)
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") {
        try await h.client.revokeRole(.with {
          $0.userId = adminUser.userId
          $0.role = .admin
          $0.expectedVersion = 7
        }, options: admin)
      }
      let demoted = try await h.client.revokeRole(.with {
        $0.userId = adminUser.userId
        $0.role = .admin
        $0.expectedVersion = adminUser.version
      }, options: admin).user
      #expect(demoted?.roles == [.customer])
      #expect(demoted?.version == adminUser.version + 1)
      await expectFailure(.failedPrecondition, reason: "LAST_ADMIN") {
        try await h.client.revokeRole(.with {
          $0.userId = second.userId
          $0.role = .admin
        }, options: try await h.asAdminService())
      }
      await expectFailure(.notFound) {
        try await h.client.revokeRole(.with {
          $0.userId = UUID().uuidString.lowercased()
          $0.role = .admin
        }, options: admin)
      }
    }
  }

  @Test("SetUserStatus: suspension needs a reason, revokes every session, is idempotent, spares the last admin")
  func setUserStatus() async throws {
    try await AuthHarness.run { h in
      let registered = try await h.register("amy@example.com")
      let user = try #require(registered.user)
      let admin = try await h.asAdminService()
      await expectFailure(.invalidArgument) {
        try await h.client.setUserStatus(.with {
          $0.userId = user.userId
          $0.status = .suspended
        }, options: admin)
      }
      await expectFailure(.invalidArgument) {
        try await h.client.setUserStatus(.with { $0.userId = user.userId }, options: admin)
      }
      await expectFailure(.invalidArgument) {
        try await h.client.setUserStatus(.with {
          $0.userId = user.userId
          $0.status = .suspended
          $0.reason = String(repeating: "r", count: 1001)
        }, options: admin)
      }
      let suspended = try #require(try await h.client.setUserStatus(.with {
        $0.userId = user.userId
        $0.status = .suspended
        $0.reason = "fraud"
      }, options: admin).user)
      #expect(suspended.status == .suspended)
      #expect(suspended.suspensionReason == "fraud")
      #expect(suspended.version == 2)
      let same = try await h.client.setUserStatus(.with {
        $0.userId = user.userId
        $0.status = .suspended
        $0.reason = "other words"
      }, options: admin).user
      #expect(same == suspended)
      let reinstated = try #require(try await h.client.setUserStatus(.with {
        $0.userId = user.userId
        $0.status = .active
      }, options: admin).user)
      #expect(reinstated.status == .active)
      #expect(reinstated.suspensionReason == "")
      #expect(reinstated.version == 3)
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") {
        try await h.client.refreshToken(.with { $0.refreshToken = registered.tokens!.refreshToken })
      }

      let (adminUser, adminOptions) = try await h.adminUser()
      await expectFailure(.failedPrecondition, reason: "LAST_ADMIN") {
        try await h.client.setUserStatus(.with {
          $0.userId = adminUser.userId
          $0.status = .suspended
          $0.reason = "oops"
        }, options: admin)
      }
      await expectFailure(.notFound) {
        try await h.client.setUserStatus(.with {
          $0.userId = UUID().uuidString.lowercased()
          $0.status = .active
        }, options: admin)
      }
      // Admin users use AdminService.SuspendUser; only the AdminService identity calls this.
      await expectFailure(.permissionDenied) {
        try await h.client.setUserStatus(.with {
          $0.userId = user.userId
          $0.status = .active
        }, options: adminOptions)
      }
    }
  }
}
