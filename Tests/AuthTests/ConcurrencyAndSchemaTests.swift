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

@Suite("AuthService: concurrent changes and the schema's own guards")
struct ConcurrencyAndSchemaTests {
  @Test("two concurrent refreshes of one token with one idempotency key both get the same pair")
  func concurrentRetries() async throws {
    try await AuthHarness.run { h in
      let tokens = try #require(try await h.register("conc@example.com").tokens)
      let request = CommerceV1.RefreshTokenRequest.with {
        $0.refreshToken = tokens.refreshToken
        $0.idempotencyKey = "same-key"
      }
      async let first = h.client.refreshToken(request)
      async let second = h.client.refreshToken(request)
      let (a, b) = try await (first, second)
      #expect(a.tokens == b.tokens)
      #expect(a.tokens?.refreshToken != tokens.refreshToken)
    }
  }

  @Test("two concurrent refreshes of one token without a key: one rotates, the other is reuse and ends the family")
  func concurrentReuse() async throws {
    try await AuthHarness.run { h in
      let tokens = try #require(try await h.register("race@example.com").tokens)
      let request = CommerceV1.RefreshTokenRequest.with { $0.refreshToken = tokens.refreshToken }
      async let first = outcome { try await h.client.refreshToken(request) }
      async let second = outcome { try await h.client.refreshToken(request) }
      let results = await [first, second]
      let rotated = results.compactMap { try? $0.get().tokens }
      let failures = results.compactMap { result -> RPCError? in
        if case .failure(let error) = result { error as? RPCError } else { nil }
      }
      #expect(rotated.count == 1)
      #expect(failures.map(\.commerceReason) == ["REFRESH_TOKEN_REUSED"])
      await expectFailure(.unauthenticated, reason: "TOKEN_REVOKED") {
        try await h.client.refreshToken(.with { $0.refreshToken = rotated[0].refreshToken })
      }
    }
  }

  @Test("two admins removing each other's ADMIN role at once leave one admin")
  func lastAdminRace() async throws {
    try await AuthHarness.run { h in
      let (first, _) = try await h.adminUser()
      let admin = try await h.asAdminService()
      let second = try #require(try await h.register("second-admin@example.com").user)
      _ = try await h.client.assignRole(.with {
        $0.userId = second.userId
        $0.role = .admin
      }, options: admin)
      func revoke(_ id: String) async -> Result<CommerceV1.RevokeRoleResponse, any Error> {
        await outcome {
          try await h.client.revokeRole(.with {
            $0.userId = id
            $0.role = .admin
          }, options: admin)
        }
      }
      async let a = revoke(first.userId)
      async let b = revoke(second.userId)
      let results = await [a, b]
      let failures = results.compactMap { result -> RPCError? in
        if case .failure(let error) = result { error as? RPCError } else { nil }
      }
      #expect(failures.count == 1)
      #expect(failures.first?.commerceReason == "LAST_ADMIN")
      let admins = try await h.client.listAccounts(.with { $0.role = .admin }, options: admin)
      #expect(admins.users.count == 1)
    }
  }

  @Test("the schema refuses what the code never writes")
  func schemaGuards() async throws {
    try await AuthHarness.run { h in
      let user = try #require(try await h.register("schema@example.com").user)
      let id = try #require(UUID(uuidString: user.userId))
      func refused(_ sql: String, _ parameters: [any PostgresEncodable] = [], sqlState: String = "23514") async {
        do {
          try await h.pool.query(sql, parameters)
          Issue.record("the schema accepted: \(sql)")
        } catch let error as PostgresError {
          #expect(error.sqlState == sqlState, "\(String(reflecting: error))")
        } catch {
          Issue.record("\(error)")
        }
      }
      await refused("UPDATE auth.accounts SET roles = ARRAY['SELLER'] WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET roles = ARRAY['CUSTOMER', 'ROOT'] WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET email = 'Upper@Example.com' WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET status = 'SUSPENDED' WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET suspension_reason = 'why' WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET seller_status = 'PENDING' WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET password_hash = 'plaintext' WHERE id = $1", [id])
      await refused("UPDATE auth.accounts SET version = 0 WHERE id = $1", [id])
      // One unused refresh token per family.
      await refused(
        """
        INSERT INTO auth.refresh_tokens (token_hash, session_id, issued_at, expires_at)
        SELECT sha256('another'::bytea), session_id, issued_at, expires_at FROM auth.refresh_tokens LIMIT 1
        """, sqlState: "23505")
      await refused(
        "UPDATE auth.sessions SET expires_at = created_at + interval '91 days'")
      await refused("UPDATE auth.sessions SET revoked_at = now()")
      await refused(
        "INSERT INTO auth.sessions (id, account_id, created_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 day')",
        [UUID(), UUID()], sqlState: "23503")
    }
  }
}

/// What `body` returned or threw.
func outcome<Value>(_ body: () async throws -> Value) async -> Result<Value, any Error> {
  do {
    return .success(try await body())
  } catch {
    return .failure(error)
  }
}
