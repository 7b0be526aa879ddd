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

@Suite("AuthService: secrets stay out of the logs")
struct SecretsInLogsTests {
  @Test("a register, login, refresh, reuse, logout and service-token flow logs no password, secret or token")
  func noSecretsInLogs() async throws {
    try await AuthHarness.run { h in
      let password = "s3cret-Passphrase-for-logs"
      let clientSecret = "client-secret-for-logs-0123456789"
      var secrets: [String] = [password, clientSecret]

      let registered = try await h.register("logs@example.com", password: password)
      secrets += [registered.tokens!.accessToken, registered.tokens!.refreshToken]
      let login = try await h.login("logs@example.com", password: password)
      secrets += [login.tokens!.accessToken, login.tokens!.refreshToken]
      await expectFailure(.unauthenticated) { try await h.login("logs@example.com", password: password + "x") }
      let options = AuthHarness.bearer(login.tokens!.accessToken)
      _ = try await h.client.whoAmI(.init(), options: options)
      let refreshed = try #require(try await h.client.refreshToken(.with {
        $0.refreshToken = login.tokens!.refreshToken
        $0.idempotencyKey = "logs-key"
      }).tokens)
      secrets += [refreshed.accessToken, refreshed.refreshToken]
      _ = try await h.client.refreshToken(.with {
        $0.refreshToken = login.tokens!.refreshToken
        $0.idempotencyKey = "logs-key"
      })
      let second = try #require(try await h.client.refreshToken(.with { $0.refreshToken = registered.tokens!.refreshToken }).tokens)
      secrets += [second.accessToken, second.refreshToken]
      await expectFailure(.unauthenticated, reason: "REFRESH_TOKEN_REUSED") {
        try await h.client.refreshToken(.with { $0.refreshToken = registered.tokens!.refreshToken })
      }
      _ = try await h.client.logout(.with { $0.refreshToken = refreshed.refreshToken }, options: options)
      _ = try await h.client.logout(.with { $0.allSessions = true }, options: options)
      await expectFailure(.unauthenticated) {
        try await h.client.whoAmI(.init(), options: AuthHarness.bearer(login.tokens!.accessToken + "x"))
      }

      try await AuthService.provisionServiceIdentity(
        name: "support", clientSecret: clientSecret, pool: h.pool, hasher: AuthHarness.testHasher)
      let service = try await h.client.issueServiceToken(.with {
        $0.serviceName = "support"
        $0.clientSecret = clientSecret
      })
      secrets.append(service.accessToken)
      await expectFailure(.unauthenticated) {
        try await h.client.issueServiceToken(.with {
          $0.serviceName = "support"
          $0.clientSecret = clientSecret + "x"
        })
      }
      let admin = try #require(try await h.service.ensureBootstrapAdmin())
      secrets.append(admin.password)

      let logs = h.logs.all.map(\.text)
      // The flow was logged (at trace level, by the server and the service)...
      #expect(logs.contains { $0.contains("call ended") })
      #expect(logs.contains { $0.contains("account registered") })
      // ...and no secret, nor a recognisable part of one, appears.
      for line in logs {
        for secret in secrets {
          #expect(!line.contains(secret), "a secret appears in the log line: \(line.prefix(120))")
          #expect(!line.contains(String(secret.suffix(20))), "part of a secret appears in the log line: \(line.prefix(120))")
        }
      }
    }
  }
}
