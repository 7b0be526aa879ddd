public import CommerceAPI
import Messages
public import CommerceKit
public import EmporiumApp
public import Foundation
import Logging
import NIOCore
public import Postgres
import PostgresEmbedded
public import RPC
import ServiceLifecycle
import Synchronization

/// Commerce services hosted as `emporium serve` hosts them — EmporiumApp on a fresh migrated
/// database, the auth interceptor, every service's background work running in a ServiceGroup —
/// with a client connection on 127.0.0.1, and callers whose tokens the server's keys signed.
/// Each service's test harness builds on it.
public struct TestApp: Sendable {
  public let app: EmporiumApp
  public let connection: RPCConnection
  public var pool: PostgresPool { app.pool }

  /// Runs `body` against `services` on a new database named `prefix_<random>`, with the
  /// services' `settings` (by service name, as `emporium serve --setting <service>.<name>=<value>`
  /// gives them); the AuthService bootstrap admin is off. Shuts everything down afterwards, also
  /// when `body` throws.
  public static func run<Result>(
    _ prefix: String, services: [ServiceDeclaration], settings: [String: [String: String]] = [:],
    _ body: (TestApp) async throws -> Result
  ) async throws -> Result {
    try await run(prefix, databaseURL: try await newDatabase(prefix), services: services, settings: settings, body)
  }

  /// A new empty database named `prefix_<random>`; its URL.
  public static func newDatabase(_ prefix: String) async throws -> String {
    let name = prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    return try await TestCluster.createDatabase(name)
  }

  /// Runs `body` against `services` on the database at `databaseURL` (for example one an
  /// earlier app used: a restart). Otherwise as ``run(_:services:settings:_:)``.
  ///
  /// For a topology of several processes (each a TestApp here), `remotePeers` names where the
  /// services it does not host run, and `keysDirectory` the signing keys they share.
  /// `databaseReplicaURL` names a streaming replica of the database (`emporium serve
  /// --database-replica-url`).
  public static func run<Result>(
    _ prefix: String, databaseURL: String, services: [ServiceDeclaration], settings: [String: [String: String]] = [:],
    remotePeers: [String: any EndpointResolver] = [:], keysDirectory: String? = nil, databaseReplicaURL: String? = nil,
    _ body: (TestApp) async throws -> Result
  ) async throws -> Result {
    var configuration = EmporiumApp.Configuration(databaseURL: databaseURL)
    configuration.databaseReplicaURL = databaseReplicaURL
    configuration.services = services
    configuration.settings = settings
    configuration.remotePeers = remotePeers
    configuration.keysDirectory = keysDirectory
    configuration.settings["auth", default: [:]]["bootstrap-admin"] = "off"
    configuration.server.port = 0
    configuration.server.drainTimeout = .seconds(5)
    let logger = Logger(label: prefix + "-test")
    let app = try await EmporiumApp.start(configuration, logger: logger)
    let group = ServiceGroup(configuration: .init(services: app.services.map { .init(service: $0) }, logger: logger))
    let running = Task { try await group.run() }
    do {
      let port = try await app.server.localAddress().port!
      let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
      let result: Result
      do {
        result = try await body(TestApp(app: app, connection: connection))
      } catch {
        await connection.close()
        throw error
      }
      await connection.close()
      await group.triggerGracefulShutdown()
      try await running.value
      await app.close()
      return result
    } catch {
      await group.triggerGracefulShutdown()
      _ = try? await running.value
      await app.close()
      throw error
    }
  }

  // MARK: Callers

  public static func bearer(_ token: String) -> CallOptions {
    CallOptions(metadata: ["authorization": "Bearer " + token])
  }

  /// Call options of a user with `roles` (and ROLE_CUSTOMER); the account need not exist for
  /// methods that do not look it up.
  public func user(_ id: String = UUID().uuidString.lowercased(), roles: Set<CommerceV1.Role>) async throws -> CallOptions {
    let token = try await app.tokens.issue(
      for: Principal(kind: .user, subject: id, roles: roles.union([.customer]), expiresAt: 0), lifetime: .seconds(3600)
    ).token
    return Self.bearer(token)
  }

  /// Call options of a service identity, optionally acting for a user (`x-on-behalf-of`).
  public func service(_ name: String, onBehalfOf user: CallOptions? = nil) async throws -> CallOptions {
    var options = Self.bearer(
      try await app.tokens.issue(for: Principal(kind: .service, subject: name, expiresAt: 0), lifetime: .seconds(3600)).token)
    if let user, let token = user.metadata["authorization"]?.dropFirst("Bearer ".count) {
      options.metadata.replace(AuthInterceptor.onBehalfOfKey, String(token))
    }
    return options
  }

  /// A registered seller whose application the AdminService identity approved: its user id and
  /// call options (a token holding ROLE_SELLER).
  public func seller(_ business: String = "Acme Audio") async throws -> (id: String, options: CallOptions) {
    let auth = CommerceV1.AuthService.Client(connection)
    let registered = try await auth.registerUser(.with {
      $0.email = "seller-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      $0.password = "correct horse battery"
      $0.displayName = "Seller"
      $0.sellerApplication = .with {
        $0.businessName = business
        $0.regionCode = "US"
      }
    })
    let id = registered.user!.userId
    _ = try await auth.assignRole(
      .with {
        $0.userId = id
        $0.role = .seller
      }, options: try await service("admin"))
    return (id, try await user(id, roles: [.seller]))
  }

  /// An amount in US dollars' minor units.
  public static func usd(_ minor: Int64) -> CommerceV1.Money {
    .with {
      $0.amountMinor = minor
      $0.currency = "USD"
    }
  }
}

/// Where a test's service declaration puts the service it makes, for the test to use.
public final class Made<Service: Sendable>: Sendable {
  private let made = Mutex<Service?>(nil)

  public init() {}

  public func set(_ service: Service) { made.withLock { $0 = service } }

  public var service: Service { made.withLock { $0 }! }
}
