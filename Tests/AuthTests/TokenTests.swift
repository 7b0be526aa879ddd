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

@Suite("AuthService: refresh tokens, logout and access tokens")
struct TokenTests {
  func refresh(_ h: AuthHarness, _ token: String, key: String = "") async throws -> CommerceV1.TokenPair {
    try #require(try await h.client.refreshToken(.with {
      $0.refreshToken = token
      $0.idempotencyKey = key
    }).tokens)
  }

  @Test("RefreshToken rotates; the consumed token presented again revokes the whole family")
  func rotationAndReuse() async throws {
    try await AuthHarness.run { h in
      let first = try #require(try await h.register("kim@example.com").tokens)
      h.clock.advance(60)
      let second = try await refresh(h, first.refreshToken)
      #expect(second.sessionId == first.sessionId)
      #expect(second.refreshToken != first.refreshToken)
      #expect(second.accessToken != first.accessToken)
      #expect(second.accessTokenExpireTime == GoogleProtobuf.Timestamp(h.clock.now.addingTimeInterval(15 * 60)))
      _ = try await h.client.whoAmI(.init(), options: AuthHarness.bearer(second.accessToken))

      await expectFailure(.unauthenticated, reason: "REFRESH_TOKEN_REUSED") { try await refresh(h, first.refreshToken) }
      // The family is gone: the newest token no longer works either.
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, second.refreshToken) }
      // Other sessions are untouched.
      let other = try #require(try await h.login("kim@example.com").tokens)
      _ = try await refresh(h, other.refreshToken)
    }
  }

  @Test("a retry with the same refresh token and idempotency key within 60 s returns the same pair")
  func retryWithinWindow() async throws {
    try await AuthHarness.run { h in
      let first = try #require(try await h.register("lee@example.com").tokens)
      let rotated = try await refresh(h, first.refreshToken, key: "retry-1")
      h.clock.advance(59)
      let retried = try await refresh(h, first.refreshToken, key: "retry-1")
      #expect(retried == rotated)
      // The returned pair is the live one.
      let next = try await refresh(h, rotated.refreshToken)
      #expect(next.sessionId == first.sessionId)
    }
  }

  @Test("a retry with another key, without a key, or after 60 s is reuse")
  func retryOutsideWindow() async throws {
    try await AuthHarness.run { h in
      // Another key.
      let a = try #require(try await h.register("moe@example.com").tokens)
      let aNext = try await refresh(h, a.refreshToken, key: "k1")
      await expectFailure(.unauthenticated, reason: "REFRESH_TOKEN_REUSED") { try await refresh(h, a.refreshToken, key: "k2") }
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, aNext.refreshToken) }

      // No key.
      let b = try #require(try await h.login("moe@example.com").tokens)
      _ = try await refresh(h, b.refreshToken, key: "k1")
      await expectFailure(.unauthenticated, reason: "REFRESH_TOKEN_REUSED") { try await refresh(h, b.refreshToken) }

      // After the window.
      let c = try #require(try await h.login("moe@example.com").tokens)
      let cNext = try await refresh(h, c.refreshToken, key: "k1")
      h.clock.advance(60)
      await expectFailure(.unauthenticated, reason: "REFRESH_TOKEN_REUSED") { try await refresh(h, c.refreshToken, key: "k1") }
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, cNext.refreshToken) }
    }
  }

  @Test("refresh tokens expire after 30 days, and a session after 90 days whatever the refreshes")
  func expiry() async throws {
    try await AuthHarness.run { h in
      let day: TimeInterval = 24 * 3600
      let login = try #require(try await h.register("ned@example.com").tokens)
      h.clock.advance(30 * day)
      await expectFailure(.unauthenticated, reason: "TOKEN_EXPIRED") { try await refresh(h, login.refreshToken) }

      let session = try #require(try await h.login("ned@example.com").tokens)
      let start = h.clock.now
      var token = session.refreshToken
      for _ in 0..<3 {
        h.clock.advance(29 * day)
        token = try await refresh(h, token).refreshToken
      }
      // Refreshed on day 87: the token ends with the session, on day 90.
      let last = try await refresh(h, token)
      #expect(last.refreshTokenExpireTime == GoogleProtobuf.Timestamp(start.addingTimeInterval(90 * day)))
      h.clock.advance(3 * day)
      await expectFailure(.unauthenticated, reason: "TOKEN_EXPIRED") { try await refresh(h, last.refreshToken) }
    }
  }

  @Test("RefreshToken refuses malformed and unknown tokens, and invalid idempotency keys")
  func malformedRefreshTokens() async throws {
    try await AuthHarness.run { h in
      await expectFailure(.unauthenticated) { try await refresh(h, "") }
      await expectFailure(.unauthenticated) { try await refresh(h, "not a token") }
      await expectFailure(.unauthenticated) { try await refresh(h, RefreshTokenSecret.generate().text) }
      let tokens = try #require(try await h.register("olga@example.com").tokens)
      var tampered = Array(tokens.refreshToken)
      tampered[5] = tampered[5] == "A" ? "B" : "A"
      await expectFailure(.unauthenticated) { try await refresh(h, String(tampered)) }
      await expectFailure(.invalidArgument) { try await refresh(h, tokens.refreshToken, key: String(repeating: "k", count: 129)) }
      await expectFailure(.invalidArgument) { try await refresh(h, tokens.refreshToken, key: "tab\tkey") }
    }
  }

  @Test("a suspended account cannot refresh: PERMISSION_DENIED ACCOUNT_SUSPENDED; reinstated, its old sessions stay revoked")
  func suspendedRefresh() async throws {
    try await AuthHarness.run { h in
      let registered = try await h.register("pat@example.com")
      let tokens = try #require(registered.tokens)
      let admin = try await h.asAdminService()
      _ = try await h.client.setUserStatus(.with {
        $0.userId = registered.user!.userId
        $0.status = .suspended
        $0.reason = "abuse"
      }, options: admin)
      await expectFailure(.permissionDenied, reason: "ACCOUNT_SUSPENDED") { try await refresh(h, tokens.refreshToken) }
      _ = try await h.client.setUserStatus(.with {
        $0.userId = registered.user!.userId
        $0.status = .active
      }, options: admin)
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, tokens.refreshToken) }
      _ = try await h.login("pat@example.com")
    }
  }

  @Test("roles granted after login reach the access token at the next refresh")
  func rolesAtRefresh() async throws {
    try await AuthHarness.run { h in
      let registered = try await h.register("quinn@example.com", seller: .with {
        $0.businessName = "Quinn's"
        $0.regionCode = "US"
      })
      _ = try await h.client.assignRole(.with {
        $0.userId = registered.user!.userId
        $0.role = .seller
      }, options: try await h.asAdminService())
      let before = try await h.client.whoAmI(.init(), options: AuthHarness.bearer(registered.tokens!.accessToken))
      #expect(before.principal?.roles == [.customer])
      #expect(before.principal?.user?.roles == [.customer, .seller])
      let refreshed = try await refresh(h, registered.tokens!.refreshToken)
      let after = try await h.client.whoAmI(.init(), options: AuthHarness.bearer(refreshed.accessToken))
      #expect(after.principal?.roles == [.customer, .seller])
    }
  }

  @Test("Logout ends one session, idempotently; the other sessions live on")
  func logoutOne() async throws {
    try await AuthHarness.run { h in
      let first = try #require(try await h.register("rita@example.com").tokens)
      let second = try #require(try await h.login("rita@example.com").tokens)
      let options = AuthHarness.bearer(first.accessToken)
      let ended = try await h.client.logout(.with { $0.refreshToken = first.refreshToken }, options: options)
      #expect(ended.revokedSessionCount == 1)
      let again = try await h.client.logout(.with { $0.refreshToken = first.refreshToken }, options: options)
      #expect(again.revokedSessionCount == 0)
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, first.refreshToken) }
      _ = try await refresh(h, second.refreshToken)
      // Any token of the family names the session, used or not.
      let third = try #require(try await h.login("rita@example.com").tokens)
      _ = try await refresh(h, third.refreshToken)
      let endedByOld = try await h.client.logout(.with { $0.refreshToken = third.refreshToken }, options: options)
      #expect(endedByOld.revokedSessionCount == 1)
    }
  }

  @Test("Logout with all_sessions ends every session of the user")
  func logoutAll() async throws {
    try await AuthHarness.run { h in
      let first = try #require(try await h.register("sam@example.com").tokens)
      let second = try #require(try await h.login("sam@example.com").tokens)
      let other = try #require(try await h.register("tess@example.com").tokens)
      let ended = try await h.client.logout(.with { $0.allSessions = true }, options: AuthHarness.bearer(second.accessToken))
      #expect(ended.revokedSessionCount == 2)
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, first.refreshToken) }
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") { try await refresh(h, second.refreshToken) }
      _ = try await refresh(h, other.refreshToken)
    }
  }

  @Test("Logout refuses another user's refresh token and a missing one; it needs a user's access token")
  func logoutErrors() async throws {
    try await AuthHarness.run { h in
      let mine = try #require(try await h.register("uma@example.com").tokens)
      let theirs = try #require(try await h.register("vic@example.com").tokens)
      let options = AuthHarness.bearer(mine.accessToken)
      let foreign = await expectFailure(.invalidArgument) {
        try await h.client.logout(.with { $0.refreshToken = theirs.refreshToken }, options: options)
      }
      #expect(foreign?.invalidFields == ["refresh_token"])
      await expectFailure(.invalidArgument) { try await h.client.logout(.init(), options: options) }
      await expectFailure(.invalidArgument) { try await h.client.logout(.with { $0.refreshToken = "garbage" }, options: options) }
      _ = try await refresh(h, theirs.refreshToken)
      await expectFailure(.unauthenticated) { try await h.client.logout(.with { $0.refreshToken = mine.refreshToken }) }
      await expectFailure(.permissionDenied) {
        try await h.client.logout(.with { $0.allSessions = true }, options: try await h.asAdminService())
      }
    }
  }

  @Test("tampered, expired, wrong-key and malformed access tokens are UNAUTHENTICATED")
  func badAccessTokens() async throws {
    try await AuthHarness.run { h in
      let tokens = try #require(try await h.register("walt@example.com").tokens)
      let whoAmI = { (options: CallOptions) in try await h.client.whoAmI(.init(), options: options) }
      _ = try await whoAmI(AuthHarness.bearer(tokens.accessToken))

      await expectFailure(.unauthenticated) { try await whoAmI(CallOptions()) }
      await expectFailure(.unauthenticated) { try await whoAmI(AuthHarness.bearer("not.a.token")) }
      await expectFailure(.unauthenticated) { try await whoAmI(CallOptions(metadata: ["authorization": "Basic dXNlcjpwYXNz"])) }
      await expectFailure(.unauthenticated) { try await whoAmI(AuthHarness.bearer(tokens.refreshToken)) }

      // Tampered: the payload changed (a role added), the signature kept.
      let parts = tokens.accessToken.split(separator: ".").map(String.init)
      #expect(parts.count == 3)
      var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
      payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
      let json = String(decoding: try #require(Data(base64Encoded: payload)), as: UTF8.self)
      #expect(json.contains("\"CUSTOMER\""))
      let forged = Data(json.replacingOccurrences(of: "\"CUSTOMER\"", with: "\"ADMIN\",\"CUSTOMER\"").utf8).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
      await expectFailure(.unauthenticated) { try await whoAmI(AuthHarness.bearer([parts[0], forged, parts[2]].joined(separator: "."))) }
      var signature = Array(parts[2])
      signature[4] = signature[4] == "A" ? "B" : "A"
      await expectFailure(.unauthenticated) {
        try await whoAmI(AuthHarness.bearer([parts[0], parts[1], String(signature)].joined(separator: ".")))
      }

      // Signed by another key set.
      let stranger = await AccessTokens(keys: try .ephemeral(), now: { h.clock.now })
      let foreign = try await stranger.issue(
        for: Principal(kind: .user, subject: UUID().uuidString.lowercased(), roles: [.customer, .admin], expiresAt: 0),
        lifetime: .seconds(900))
      await expectFailure(.unauthenticated) { try await whoAmI(AuthHarness.bearer(foreign.token)) }

      // Expired: 15 minutes later.
      h.clock.advance(15 * 60)
      await expectFailure(.unauthenticated, reason: "TOKEN_EXPIRED") { try await whoAmI(AuthHarness.bearer(tokens.accessToken)) }
      // Even on a method anyone may call, an invalid token is refused.
      await expectFailure(.unauthenticated, reason: "TOKEN_EXPIRED") {
        try await h.client.login(.with {
          $0.email = "walt@example.com"
          $0.password = "correct horse battery"
        }, options: AuthHarness.bearer(tokens.accessToken))
      }
    }
  }
}
