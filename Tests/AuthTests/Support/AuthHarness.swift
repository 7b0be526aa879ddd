import CommerceAPI
import CommerceKit
import Foundation
import Logging
import Messages
import NIOCore
import Postgres
import PostgresEmbedded
import RPC
import Synchronization
import RPCTestSupport
import CommerceTestSupport
import TestSupport
import Testing

@testable import CommerceAuth


/// A migrated fresh database, an AuthService on a real server on 127.0.0.1 with the auth
/// interceptor, and a client connection to it.
struct AuthHarness {
  let pool: PostgresPool
  let clock: TestClock
  let tokens: AccessTokens
  let service: AuthService
  let client: CommerceV1.AuthService.Client
  let logs: CapturingLogHandler.Store

  /// Cheap Argon2id parameters, so tests spend their time on behaviour, not hashing.
  static let testHasher = PasswordHasher(iterations: 1, memoryBytes: 64 * 1024)

  static func run<Result>(
    configure: (inout AuthService.Configuration) -> Void = { _ in },
    _ body: (AuthHarness) async throws -> Result
  ) async throws -> Result {
    let name = "auth_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    let url = try await TestCluster.createDatabase(name)
    let pool = try PostgresPool(configuration: .init(url: url, maximumConnections: 4))
    do {
      _ = try await Migrator(pool: pool, schema: "auth").migrate(AuthService.migrations)
      let clock = TestClock()
      let tokens = await AccessTokens(keys: try .ephemeral(), now: { clock.now })
      var configuration = AuthService.Configuration()
      configuration.passwordHasher = testHasher
      configuration.registrationsPerClient = 10_000
      configure(&configuration)
      let logs = CapturingLogHandler.Store()
      let logger = Logger(label: "auth-test") { _ in CapturingLogHandler(store: logs, level: .trace) }
      let service = try await AuthService(pool: pool, tokens: tokens, configuration: configuration, logger: logger, now: { clock.now })
      var serverConfiguration = RPCServer.Configuration()
      serverConfiguration.port = 0
      serverConfiguration.drainTimeout = .seconds(5)
      let server = RPCServer(
        services: [service], interceptors: [AuthInterceptor(tokens: tokens)], configuration: serverConfiguration, logger: logger)
      let serving = Task { try await server.serve() }
      do {
        let port = try await server.localAddress().port!
        let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
        let harness = AuthHarness(
          pool: pool, clock: clock, tokens: tokens, service: service, client: .init(connection), logs: logs)
        do {
          let result = try await body(harness)
          await connection.close()
          server.beginGracefulShutdown()
          try await serving.value
          await pool.close()
          return result
        } catch {
          await connection.close()
          throw error
        }
      } catch {
        server.beginGracefulShutdown()
        _ = try? await serving.value
        throw error
      }
    } catch {
      await pool.close()
      throw error
    }
  }

  // MARK: Conveniences

  static func bearer(_ token: String) -> CallOptions {
    CallOptions(metadata: ["authorization": "Bearer " + token])
  }

  /// An access token of a service identity, signed by the server's keys.
  func serviceToken(_ name: String = "admin") async throws -> String {
    try await tokens.issue(for: Principal(kind: .service, subject: name, expiresAt: 0), lifetime: .seconds(3600)).token
  }

  /// Call options of the AdminService identity.
  func asAdminService() async throws -> CallOptions { Self.bearer(try await serviceToken("admin")) }

  @discardableResult
  func register(
    _ email: String, password: String = "correct horse battery", name: String = "Test User",
    seller: CommerceV1.SellerApplication? = nil
  ) async throws -> CommerceV1.RegisterUserResponse {
    try await client.registerUser(.with {
      $0.email = email
      $0.password = password
      $0.displayName = name
      $0.sellerApplication = seller
      $0.sessionLabel = "tests"
    })
  }

  func login(_ email: String, password: String = "correct horse battery") async throws -> CommerceV1.LoginResponse {
    try await client.login(.with {
      $0.email = email
      $0.password = password
    })
  }

  /// A logged-in admin user (the bootstrap admin) and its call options.
  func adminUser() async throws -> (user: CommerceV1.User, options: CallOptions) {
    let admin = try #require(try await service.ensureBootstrapAdmin())
    let login = try await self.login(admin.email, password: admin.password)
    return (login.user!, Self.bearer(login.tokens!.accessToken))
  }
}
