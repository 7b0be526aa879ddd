import CommerceAPI
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import CommerceKit


@Suite struct AccessTokenTests {
  let user = Principal(kind: .user, subject: "u-1", roles: [.customer, .seller], sessionID: "s-1", expiresAt: 0)

  @Test func issuedTokensVerifyWithTheirClaims() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral())
    let (token, expiresAt) = try await tokens.issue(for: user, lifetime: .seconds(900))
    let claims = try await tokens.verify(token)
    #expect(claims.principal.subject == "u-1")
    #expect(claims.principal.kind == .user)
    #expect(claims.principal.roles == [.customer, .seller])
    #expect(claims.principal.sessionID == "s-1")
    #expect(claims.principal.expiresAt == Int64(expiresAt.timeIntervalSince1970))
    let service = try await tokens.verify(
      try await tokens.issue(for: Principal(kind: .service, subject: "orders", expiresAt: 0), lifetime: .seconds(3600)).token)
    #expect(service.principal.serviceName == "orders")
    #expect(service.principal.roles.isEmpty)
  }

  @Test func tamperedMalformedAndForeignTokensAreInvalid() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral())
    let other = await AccessTokens(keys: try .ephemeral())
    let token = try await tokens.issue(for: user, lifetime: .seconds(900)).token
    var parts = token.split(separator: ".").map(String.init)
    // Claim the ADMIN role without re-signing.
    let forged = Data(#"{"sub":"u-1","knd":"user","roles":["ADMIN"],"iat":1,"exp":9999999999,"iss":"emporium","jti":"x"}"#.utf8)
      .base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_")
    parts[1] = forged
    for bad in [parts.joined(separator: "."), "not-a-token", "", token + "x", String(token.dropLast(2))] {
      await #expect(throws: AccessTokens.Failure.invalid) { try await tokens.verify(bad) }
    }
    await #expect(throws: AccessTokens.Failure.invalid) {
      try await other.verify(token)
    }
  }

  @Test func expiredTokensAreExpired() async throws {
    let clock = TestClock()
    let tokens = await AccessTokens(keys: try .ephemeral(), now: { clock.now })
    let token = try await tokens.issue(for: user, lifetime: .seconds(900)).token
    _ = try await tokens.verify(token)
    clock.advance(899)
    _ = try await tokens.verify(token)
    clock.advance(2)
    // Cached until it expires, refused after.
    await #expect(throws: AccessTokens.Failure.expired) { try await tokens.verify(token) }
  }

  @Test func cachedClaimsAnswerOnlyVerifiedUnexpiredTokensByTheirExactText() async throws {
    let clock = TestClock()
    let tokens = await AccessTokens(keys: try .ephemeral(), now: { clock.now })
    let token = try await tokens.issue(for: user, lifetime: .seconds(900)).token
    let header = "Bearer " + token
    let slice = header.dropFirst("Bearer ".count)
    #expect(tokens.cachedClaims(of: slice) == nil)
    _ = try await tokens.verify(token)
    #expect(tokens.cachedClaims(of: slice)?.principal.subject == user.subject)
    // The same length and last bytes, one character changed: not the verified token.
    var altered = Array(token.utf8)
    altered[10] = altered[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
    #expect(tokens.cachedClaims(of: Substring(String(decoding: altered, as: UTF8.self))) == nil)
    clock.advance(901)
    #expect(tokens.cachedClaims(of: slice) == nil)
    // Lookups through cachedClaims count hits only; the misses are verify's.
    #expect(tokens.cacheStatistics.hits == 1)
    #expect(tokens.cacheStatistics.misses == 1)
  }

  @Test func keysRotateWithoutLoggingAnyoneOut() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-keys-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let (first, created) = try AccessTokenKeySet.load(directory: directory)
    #expect(created)
    #expect(try AccessTokenKeySet.load(directory: directory).created == false)
    let old = await AccessTokens(keys: first)
    let token = try await old.issue(for: user, lifetime: .seconds(900)).token
    // A newer key, sorting last, signs from now on; the old one still verifies.
    let newer = try AccessTokenKeySet.ephemeral()
    let newKey = try #require(newer.keys.first)
    let pem = try #require(newer.privateKeyPEM(of: newKey.id))
    try pem.write(toFile: directory + "/key-9999999999.pem", atomically: true, encoding: .utf8)
    let (rotated, _) = try AccessTokenKeySet.load(directory: directory)
    #expect(rotated.keys.map(\.id).last == "key-9999999999")
    let current = await AccessTokens(keys: rotated)
    #expect(try await current.verify(token).principal.subject == "u-1")
    let fresh = try await current.issue(for: user, lifetime: .seconds(900)).token
    await #expect(throws: AccessTokens.Failure.invalid) { try await old.verify(fresh) }
  }

  @Test func theCacheIsBounded() async throws {
    let tokens = await AccessTokens(keys: try .ephemeral(), cacheCapacity: 4)
    for index in 0..<10 {
      let token = try await tokens.issue(for: Principal(kind: .user, subject: "u-\(index)", expiresAt: 0), lifetime: .seconds(900)).token
      _ = try await tokens.verify(token)
      #expect(tokens.cachedCount <= 4)
    }
  }

  @Test func passwordsHashWithArgon2id() async throws {
    let hasher = PasswordHasher(iterations: 2, memoryBytes: 8 * 1024 * 1024)
    let hash = try await hasher.hash("correct horse battery staple")
    #expect(hash.hasPrefix("$argon2id$"))
    #expect(!hash.contains("correct horse"))
    #expect(try await hasher.verify("correct horse battery staple", against: hash))
    #expect(try await !hasher.verify("correct horse battery stapler", against: hash))
    #expect(try await !hasher.verify("anything", against: "not a hash"))
    #expect(try await hasher.hash("same") != (try await hasher.hash("same")))
    #expect(!hasher.needsRehash(hash))
    #expect(PasswordHasher.owasp.needsRehash(hash))
  }
}
