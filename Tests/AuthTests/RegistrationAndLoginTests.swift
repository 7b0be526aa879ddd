import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import RPCTestSupport
import TestSupport
import Testing

@testable import CommerceAuth

@Suite("AuthService: registration and login")
struct RegistrationAndLoginTests {
  @Test("RegisterUser creates a lower-cased customer account and logs it in")
  func register() async throws {
    try await AuthHarness.run { h in
      let response = try await h.register("  Alice@Example.COM ", name: "Alice")
      let user = try #require(response.user)
      #expect(user.email == "alice@example.com")
      #expect(user.displayName == "Alice")
      #expect(user.roles == [.customer])
      #expect(user.status == .active)
      #expect(user.sellerStatus == .unspecified)
      #expect(user.businessName == "")
      #expect(user.version == 1)
      #expect(user.createTime == GoogleProtobuf.Timestamp(h.clock.now))
      let tokens = try #require(response.tokens)
      #expect(tokens.accessTokenExpireTime == GoogleProtobuf.Timestamp(h.clock.now.addingTimeInterval(15 * 60)))
      #expect(tokens.refreshTokenExpireTime == GoogleProtobuf.Timestamp(h.clock.now.addingTimeInterval(30 * 24 * 3600)))
      #expect(!tokens.sessionId.isEmpty)

      let me = try await h.client.whoAmI(.init(), options: AuthHarness.bearer(tokens.accessToken))
      let principal = try #require(me.principal)
      #expect(principal.kind == .user)
      #expect(principal.userId == user.userId)
      #expect(principal.roles == [.customer])
      #expect(principal.sessionId == tokens.sessionId)
      #expect(principal.expireTime?.seconds == tokens.accessTokenExpireTime?.seconds)
      #expect(principal.user?.email == "alice@example.com")
      #expect(principal.serviceName == "")
    }
  }

  @Test("RegisterUser with a seller application leaves a pending application")
  func registerSeller() async throws {
    try await AuthHarness.run { h in
      let user = try #require(
        try await h.register("shop@example.com", seller: .with {
          $0.businessName = "Bob's Bolts"
          $0.regionCode = "DE"
        }).user)
      #expect(user.roles == [.customer])
      #expect(user.sellerStatus == .pending)
      #expect(user.businessName == "Bob's Bolts")
    }
  }

  @Test("RegisterUser refuses a registered email, in any case: ALREADY_EXISTS EMAIL_TAKEN")
  func emailTaken() async throws {
    try await AuthHarness.run { h in
      try await h.register("carol@example.com")
      await expectFailure(.alreadyExists, reason: "EMAIL_TAKEN") { try await h.register("CAROL@example.com") }
    }
  }

  @Test("RegisterUser refuses malformed emails, weak passwords and bad fields, naming every field")
  func invalidRegistration() async throws {
    try await AuthHarness.run { h in
      let both = await expectFailure(.invalidArgument, reason: "WEAK_PASSWORD") {
        try await h.register("not-an-email", password: "short")
      }
      #expect(both?.invalidFields == ["email", "password"])
      await expectFailure(.invalidArgument, reason: "WEAK_PASSWORD") { try await h.register("d@example.com", password: "Password123") }
      await expectFailure(.invalidArgument, reason: "WEAK_PASSWORD") {
        try await h.register("d@example.com", password: String(repeating: "ab", count: 65))
      }
      let email = await expectFailure(.invalidArgument) { try await h.register("d@@example.com") }
      #expect(email?.commerceReason == nil)
      #expect(email?.invalidFields == ["email"])
      let fields = await expectFailure(.invalidArgument) {
        try await h.register("d@example.com", name: "", seller: .with {
          $0.businessName = ""
          $0.regionCode = "germany"
        })
      }
      #expect(fields?.invalidFields == ["display_name", "seller_application.business_name", "seller_application.region_code"])
    }
  }

  @Test("RegisterUser is limited per client: RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure, then recovers")
  func registrationLimit() async throws {
    try await AuthHarness.run(configure: { $0.registrationsPerClient = 2 }) { h in
      try await h.register("r1@example.com")
      h.clock.advance(60)
      try await h.register("r2@example.com")
      let error = await expectFailure(.resourceExhausted) { try await h.register("r3@example.com") }
      #expect(error?.retryDelay == .seconds(3600 - 60))
      #expect(error?.details?.details.contains { if case .quotaFailure = $0.detail { true } else { false } } == true)
      h.clock.advance(3600 - 60)
      try await h.register("r3@example.com")
    }
  }

  @Test("Login starts a new session and records the login time")
  func login() async throws {
    try await AuthHarness.run { h in
      let registered = try await h.register("erin@example.com")
      h.clock.advance(10)
      let login = try await h.login("ERIN@example.com")
      #expect(login.user?.userId == registered.user?.userId)
      #expect(login.user?.lastLoginTime == GoogleProtobuf.Timestamp(h.clock.now))
      #expect(login.user?.version == 1)
      #expect(login.tokens?.sessionId != registered.tokens?.sessionId)
      let me = try await h.client.whoAmI(.init(), options: AuthHarness.bearer(login.tokens!.accessToken))
      #expect(me.principal?.sessionId == login.tokens?.sessionId)
    }
  }

  @Test("Login replaces a password hash made with other parameters")
  func rehashAtLogin() async throws {
    try await AuthHarness.run { h in
      let user = try #require(try await h.register("rehash@example.com").user)
      let id = try #require(UUID(uuidString: user.userId))
      let older = try await PasswordHasher(iterations: 2, memoryBytes: 32 * 1024).hash("correct horse battery")
      try await h.pool.query("UPDATE auth.accounts SET password_hash = $2 WHERE id = $1", [id, older])
      _ = try await h.login("rehash@example.com")
      let stored = try #require(try await h.pool.query("SELECT password_hash FROM auth.accounts WHERE id = $1", [id]).scalar(as: String.self))
      #expect(stored != older)
      #expect(!AuthHarness.testHasher.needsRehash(stored))
      _ = try await h.login("rehash@example.com")
    }
  }

  @Test("Login refuses a wrong password and an unknown email alike: UNAUTHENTICATED INVALID_CREDENTIALS")
  func invalidCredentials() async throws {
    try await AuthHarness.run { h in
      try await h.register("frank@example.com")
      let wrong = await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") {
        try await h.login("frank@example.com", password: "wrong password!")
      }
      let unknown = await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") {
        try await h.login("nobody@example.com", password: "wrong password!")
      }
      #expect(wrong?.message == unknown?.message)
      await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") { try await h.login("not an email", password: "x") }
    }
  }

  @Test("Login refuses a suspended account: PERMISSION_DENIED ACCOUNT_SUSPENDED")
  func suspendedLogin() async throws {
    try await AuthHarness.run { h in
      let user = try #require(try await h.register("gina@example.com").user)
      _ = try await h.client.setUserStatus(.with {
        $0.userId = user.userId
        $0.status = .suspended
        $0.reason = "chargebacks"
      }, options: try await h.asAdminService())
      await expectFailure(.permissionDenied, reason: "ACCOUNT_SUSPENDED") { try await h.login("gina@example.com") }
      // A wrong password says nothing about the account's state.
      await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") { try await h.login("gina@example.com", password: "wrong one!!") }
    }
  }

  @Test("5 failed logins for one email within 15 minutes trip the throttle, which recovers")
  func emailThrottle() async throws {
    try await AuthHarness.run { h in
      try await h.register("hank@example.com")
      for _ in 0..<5 {
        await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") {
          try await h.login("hank@example.com", password: "guess guess guess")
        }
        h.clock.advance(60)
      }
      // Now even the right password is refused, with when to retry.
      let error = await expectFailure(.resourceExhausted) { try await h.login("Hank@example.com") }
      #expect(error?.retryDelay == .seconds(15 * 60 - 5 * 60))
      let quota = error?.details?.details.compactMap { detail -> RpcV1.QuotaFailure? in
        if case .quotaFailure(let quota) = detail.detail { quota } else { nil }
      }.first
      #expect(quota?.violations.first?.quotaId == "login_failures_per_email")
      #expect(quota?.violations.first?.quotaLimit == 5)
      // Another email from the same client is not affected.
      try await h.register("ivy@example.com")
      _ = try await h.login("ivy@example.com")
      // The oldest failure leaves the window: one more attempt is allowed.
      h.clock.advance(10 * 60)
      _ = try await h.login("hank@example.com")
      // A success clears the email's failures.
      await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") { try await h.login("hank@example.com", password: "guess guess guess") }
      _ = try await h.login("hank@example.com")
    }
  }

  @Test("failed logins from one client across many emails trip the per-client throttle, which recovers")
  func clientThrottle() async throws {
    try await AuthHarness.run(configure: { $0.loginFailuresPerClient = 3 }) { h in
      try await h.register("jack@example.com")
      for index in 0..<3 {
        await expectFailure(.unauthenticated, reason: "INVALID_CREDENTIALS") {
          try await h.login("victim\(index)@example.com", password: "guess guess guess")
        }
      }
      let error = await expectFailure(.resourceExhausted) { try await h.login("jack@example.com") }
      #expect(error?.retryDelay == .seconds(15 * 60))
      #expect(error?.details?.details.contains { if case .quotaFailure(let q) = $0.detail { q.violations.first?.quotaId == "login_failures_per_client" } else { false } } == true)
      await expectFailure(.resourceExhausted) {
        try await h.client.issueServiceToken(.with {
          $0.serviceName = "orders"
          $0.clientSecret = "whatever whatever"
        })
      }
      h.clock.advance(15 * 60)
      _ = try await h.login("jack@example.com")
    }
  }
}
