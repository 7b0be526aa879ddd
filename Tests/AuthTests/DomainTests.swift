import CommerceAPI
import CommerceKit
import RPC
import Foundation
import RPCTestSupport
import TestSupport
import Testing

@testable import CommerceAuth

@Suite("Auth domain")
struct DomainTests {
  @Test("the password policy: 10 to 128 characters, not common, case-insensitively")
  func passwordPolicy() {
    let policy = PasswordPolicy.standard
    #expect(policy.violation(of: "short") == .tooShort)
    #expect(policy.violation(of: String(repeating: "x", count: 9) + "y") == nil)
    #expect(policy.violation(of: String(repeating: "ab", count: 65)) == .tooLong)
    #expect(policy.violation(of: String(repeating: "ab", count: 64)) == nil)
    #expect(policy.violation(of: "Password123") == .common)
    #expect(policy.violation(of: "QWERTYUIOP") == .common)
    #expect(policy.violation(of: "zzzzzzzzzzzz") == .common)
    #expect(policy.violation(of: "correct horse battery") == nil)
    #expect(PasswordPolicy(commonPasswords: ["correct horse battery"]).violation(of: "Correct Horse Battery") == .common)
    #expect(!CommonPasswords.list.isEmpty)
    #expect(CommonPasswords.list.allSatisfy { $0.count >= PasswordPolicy.minimumLength })
  }

  @Test("emails are trimmed, lower-cased and validated")
  func emails() {
    #expect(EmailAddress(" Alice@Example.COM ")?.value == "alice@example.com")
    #expect(EmailAddress("a@b.co")?.value == "a@b.co")
    for bad in ["", "a@b", "@example.com", "alice@", "alice@@example.com", "al ice@example.com", "alice@example..com",
                "alice@-example.com", "a\u{7}b@example.com", String(repeating: "a", count: 65) + "@example.com",
                "a@" + String(repeating: "b", count: 250) + ".com"] {
      #expect(EmailAddress(bad) == nil, "\(bad)")
    }
  }

  @Test("a sliding window refuses at its limit, says for how long, and reopens")
  func slidingWindow() {
    var limiter = SlidingWindowLimiter<String>(limit: 3, window: 100)
    let start = Date(timeIntervalSince1970: 1000)
    for offset in 0..<3 {
      #expect(limiter.retryAfter("k", now: start.addingTimeInterval(Double(offset * 10))) == nil)
      limiter.record("k", now: start.addingTimeInterval(Double(offset * 10)))
    }
    #expect(limiter.retryAfter("k", now: start.addingTimeInterval(30)) == 70)
    #expect(limiter.retryAfter("other", now: start.addingTimeInterval(30)) == nil)
    #expect(limiter.retryAfter("k", now: start.addingTimeInterval(100)) == nil)
    limiter.record("k", now: start.addingTimeInterval(100))
    #expect(limiter.retryAfter("k", now: start.addingTimeInterval(100)) == 10)
    limiter.reset("k")
    #expect(limiter.count("k", now: start.addingTimeInterval(100)) == 0)
  }

  @Test("a sliding window bounds the keys it tracks")
  func slidingWindowEviction() {
    var limiter = SlidingWindowLimiter<Int>(limit: 1, window: 10, maximumKeys: 3)
    let now = Date(timeIntervalSince1970: 0)
    for key in 0..<5 { limiter.record(key, now: now.addingTimeInterval(Double(key))) }
    #expect(limiter.count(4, now: now.addingTimeInterval(4)) == 1)
    #expect(limiter.count(0, now: now.addingTimeInterval(4)) == 0)

    var wide = SlidingWindowLimiter<Int>(limit: 1, window: 1000, maximumKeys: 100)
    for key in 0...100 { wide.record(key, now: now.addingTimeInterval(Double(key))) }
    // Over the maximum: the least recently seen keys go, down to 90.
    #expect((0...100).filter { wide.count($0, now: now.addingTimeInterval(100)) > 0 } == Array(11...100))
  }

  @Test("refresh decisions: suspension, revocation, retry window, reuse, expiry, rotation")
  func refreshDecisions() {
    let now = Date(timeIntervalSince1970: 10_000)
    let live = RefreshTokenState(
      accountSuspended: false, sessionRevoked: false, sessionExpiresAt: now.addingTimeInterval(1000),
      expiresAt: now.addingTimeInterval(500), rotatedAt: nil, hasSealedRetry: false)
    #expect(live.decide(idempotencyKey: "", now: now) == .rotate)
    var state = live
    state.accountSuspended = true
    state.sessionRevoked = true
    #expect(state.decide(idempotencyKey: "", now: now) == .suspended)
    state.accountSuspended = false
    #expect(state.decide(idempotencyKey: "", now: now) == .revoked)
    #expect(live.decide(idempotencyKey: "", now: now.addingTimeInterval(500)) == .expired)
    state = live
    state.sessionExpiresAt = now
    #expect(state.decide(idempotencyKey: "", now: now) == .expired)

    var rotated = live
    rotated.rotatedAt = now
    rotated.hasSealedRetry = true
    #expect(rotated.decide(idempotencyKey: "k", now: now.addingTimeInterval(59)) == .replay)
    #expect(rotated.decide(idempotencyKey: "k", now: now.addingTimeInterval(60)) == .reuse)
    #expect(rotated.decide(idempotencyKey: "", now: now.addingTimeInterval(1)) == .reuse)
    rotated.hasSealedRetry = false
    #expect(rotated.decide(idempotencyKey: "k", now: now.addingTimeInterval(1)) == .reuse)
    #expect(
      RefreshTokenState.nextExpiry(now: now, sessionExpiresAt: now.addingTimeInterval(10)) == now.addingTimeInterval(10))
  }

  @Test("refresh tokens: 32 random bytes in base64url, hashed, and a sealed pair opens only with the same key")
  func refreshTokenSecrets() throws {
    let token = RefreshTokenSecret.generate()
    #expect(token.text.count == 43)
    #expect(RefreshTokenSecret(text: token.text)?.hash == token.hash)
    #expect(token.hash.count == 32)
    #expect(token.hash != token.bytes)
    #expect(RefreshTokenSecret(text: token.text + "A") == nil)
    #expect(RefreshTokenSecret(text: String(token.text.dropLast()) + "!") == nil)
    #expect(RefreshTokenSecret.generate().text != token.text)

    let tokens = IssuedTokens(
      accessToken: "access", accessExpiresAt: Date(timeIntervalSince1970: 5), refreshToken: "refresh",
      refreshExpiresAt: Date(timeIntervalSince1970: 7), sessionID: UUID())
    let sealed = try token.seal(tokens, idempotencyKey: "key-1")
    #expect(token.open(sealed, idempotencyKey: "key-1") == tokens)
    #expect(token.open(sealed, idempotencyKey: "key-2") == nil)
    #expect(RefreshTokenSecret.generate().open(sealed, idempotencyKey: "key-1") == nil)
    #expect(!"\(tokens)".contains("access"))
  }

  func account(roles: Set<CommerceV1.Role> = [.customer], status: Account.Status = .active, seller: Account.SellerStatus = .none)
    -> Account
  {
    Account(
      id: UUID(), email: "a@example.com", displayName: "A", roles: roles, status: status, suspensionReason: status == .suspended ? "x" : "",
      sellerStatus: seller, businessName: seller == .none ? "" : "Shop", sellerRegionCode: seller == .none ? "" : "US",
      createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0), lastLoginAt: nil, version: 1)
  }

  @Test("role changes: idempotent, SELLER approves a pending application, CUSTOMER stays, the last admin stays")
  func roleChanges() throws {
    let pending = account(seller: .pending)
    let seller = try #require(AccountChange.granting(.seller, to: pending))
    #expect(seller.roles == [.customer, .seller])
    #expect(seller.sellerStatus == .approved)
    #expect(AccountChange.granting(.seller, to: seller) == nil)
    #expect(AccountChange.granting(.customer, to: pending) == nil)
    #expect(AccountChange.granting(.seller, to: account())?.sellerStatus == Account.SellerStatus.none)

    #expect(throws: CommerceError.self) { try AccountChange.revoking(.customer, from: seller, activeAdmins: 2) }
    #expect(try AccountChange.revoking(.admin, from: seller, activeAdmins: 0) == nil)
    #expect(try AccountChange.revoking(.seller, from: seller, activeAdmins: 0)?.roles == [.customer])
    let admin = account(roles: [.customer, .admin])
    #expect(throws: CommerceError.self) { try AccountChange.revoking(.admin, from: admin, activeAdmins: 1) }
    #expect(try AccountChange.revoking(.admin, from: admin, activeAdmins: 2)?.roles == [.customer])
    // A suspended admin is not an active one: removing its role never leaves the system without one.
    #expect(try AccountChange.revoking(.admin, from: account(roles: [.customer, .admin], status: .suspended), activeAdmins: 1) != nil)
  }

  @Test("status changes: idempotent, a reason while suspended, the last admin stays active")
  func statusChanges() throws {
    let customer = account()
    let suspended = try #require(try AccountChange.setting(.suspended, reason: "fraud", on: customer, activeAdmins: 1))
    #expect(suspended.status == .suspended)
    #expect(suspended.suspensionReason == "fraud")
    #expect(try AccountChange.setting(.suspended, reason: "again", on: suspended, activeAdmins: 1) == nil)
    #expect(try AccountChange.setting(.active, reason: "", on: suspended, activeAdmins: 1)?.suspensionReason == "")
    #expect(throws: CommerceError.self) {
      try AccountChange.setting(.suspended, reason: "x", on: account(roles: [.customer, .admin]), activeAdmins: 1)
    }
  }

  @Test("the client address drops the port")
  func clientAddress() {
    #expect(ServerContext.hostAddress(ofPeer: "[IPv4]127.0.0.1/127.0.0.1:54321") == "127.0.0.1")
    #expect(ServerContext.hostAddress(ofPeer: "[IPv6]::1/::1:54321") == "::1")
    #expect(ServerContext.hostAddress(ofPeer: "in-process") == "in-process")
  }
}
