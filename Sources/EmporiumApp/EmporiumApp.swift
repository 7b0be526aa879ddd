public import CommerceKit
public import CoreMetrics
public import Logging
public import Postgres
public import RPC
public import ServiceLifecycle
import Foundation
import Synchronization

/// The composition root: the one place that knows which services a process hosts and how they
/// reach each other.
///
/// ``start(_:logger:)`` opens the process's one PostgreSQL pool (statement timeouts follow the
/// RPC call's deadline) and, with ``Configuration/databaseReplicaURL``, a second, read-only pool
/// on a streaming replica (``ReadReplica``, whose lag is measured in the background), migrates every hosted service's schema (the shared platform tables,
/// then the service's own migrations), loads the access token keys, makes each service with
/// transports to its peers (in-process when the peer is hosted here, otherwise one client pool
/// per remote peer, shared by the process's services; each transport carries the calling
/// service's identity), and builds one RPC server with the auth interceptor in front of every
/// method. The caller runs ``services`` (the server and the services' background work) in
/// a swift-service-lifecycle `ServiceGroup`, then calls ``close()``.
public final class EmporiumApp: Sendable {
  /// What to host and how.
  public struct Configuration: Sendable {
    /// The services to host; by default every service the project has (``ServiceCatalog/all``).
    public var services: [ServiceDeclaration] = ServiceCatalog.all
    /// The database.
    public var databaseURL: String
    /// Connections in the process's pool.
    public var maximumDatabaseConnections = 16
    /// A streaming replica of the database: services that can (the catalog) send their reads
    /// there under the read-your-writes rule of ``ReadReplica``; nil (the default) sends
    /// everything to ``databaseURL``.
    public var databaseReplicaURL: String?
    /// Connections in the replica's pool.
    public var maximumReplicaConnections = 16
    /// How often the replica's lag is measured (and exported as gauges).
    public var replicaLagInterval: Duration = .seconds(1)
    /// How the replica's read-your-writes marks are kept.
    public var replicaRouting = ReadReplica.Configuration()
    /// Where the replica's metrics go; nil takes `MetricsSystem`'s factory at start.
    public var metricsFactory: (any MetricsFactory)?
    /// PostgreSQL settings for the process's connections, sent when each connection starts
    /// (libpq's `options`), unless the database URL sets `options` itself. The defaults suit
    /// many short statements on a small machine with the data in memory: no parallel workers
    /// (with many callers they only add processes to busy cores) and random reads priced
    /// close to sequential ones, so the planner uses the indexes (docs/PERFORMANCE.md,
    /// "Storefront").
    public var databaseSessionSettings: [String: String] = [
      "max_parallel_workers_per_gather": "0", "random_page_cost": "1.1",
    ]
    /// Where the access token signing keys live (created on first start); nil keeps one
    /// throwaway key in memory (tests, demos).
    public var keysDirectory: String?
    /// The RPC server's settings (address, limits, drain).
    public var server = RPCServer.Configuration()
    /// Peers hosted by other processes, by service name: where their client pool finds them (a
    /// static list or a DNS name). Every peer a hosted service needs must be hosted here or
    /// listed here. Those processes must verify this one's tokens: they share its signing keys
    /// (``keysDirectory``).
    public var remotePeers: [String: any EndpointResolver] = [:]
    /// How the client pools to remote peers connect, balance and retry.
    public var peerPool = RPCClientPool.Configuration()
    /// Services hosted beside the commerce services, without access rules (echo).
    public var extraServices: [any RPCService] = []
    /// Settings per service, by service name, handed to that service (``ServiceEnvironment/settings``).
    public var settings: [String: [String: String]] = [:]
    /// Where operator messages go (a bootstrap admin's first password): standard output by
    /// default; never the log.
    public var announce: @Sendable (String) -> Void = { message in
      FileHandle.standardOutput.write(Data((message + "\n").utf8))
    }

    public init(databaseURL: String) {
      self.databaseURL = databaseURL
    }
  }

  /// The RPC server hosting every service.
  public let server: RPCServer
  /// The server and the hosted services' background work, to run in a `ServiceGroup`.
  public let services: [any Service]
  /// The process's PostgreSQL pool.
  public let pool: PostgresPool
  /// The read replica and its read-only pool, when ``Configuration/databaseReplicaURL`` was given.
  public let replica: ReadReplica?
  /// The access token keys.
  public let tokens: AccessTokens
  /// The names of the hosted services.
  public let hosted: [String]
  /// The client pools to remote peers, by service name.
  public let peerPools: [String: RPCClientPool]

  private init(
    server: RPCServer, services: [any Service], pool: PostgresPool, replica: ReadReplica?, tokens: AccessTokens,
    hosted: [String], peerPools: [String: RPCClientPool]
  ) {
    self.server = server
    self.services = services
    self.pool = pool
    self.replica = replica
    self.tokens = tokens
    self.hosted = hosted
    self.peerPools = peerPools
  }

  /// A configuration problem found at start.
  public struct StartError: Error, CustomStringConvertible {
    public var description: String
  }

  /// Opens the database, migrates, makes every service and the server (which is not yet
  /// listening: run ``services``).
  public static func start(_ configuration: Configuration, logger: Logger) async throws -> EmporiumApp {
    let declarations = configuration.services
    try checkPeers(of: declarations, remote: Set(configuration.remotePeers.keys))
    var poolConfiguration = PostgresPool.Configuration(
      url: withSessionSettings(configuration.databaseURL, configuration.databaseSessionSettings),
      maximumConnections: configuration.maximumDatabaseConnections)
    poolConfiguration.deadline = { RPCDeadline.current ?? PostgresDeadline.current }
    let pool = try PostgresPool(configuration: poolConfiguration)
    var replica: ReadReplica?
    if let replicaURL = configuration.databaseReplicaURL {
      // Read-only sessions: a hot standby refuses writes anyway; this says so at once on any
      // other server given by mistake.
      var settings = configuration.databaseSessionSettings
      settings["default_transaction_read_only"] = "on"
      var replicaConfiguration = PostgresPool.Configuration(
        url: withSessionSettings(replicaURL, settings), maximumConnections: configuration.maximumReplicaConnections)
      replicaConfiguration.deadline = { RPCDeadline.current ?? PostgresDeadline.current }
      do {
        replica = ReadReplica(
          primary: pool, replica: try PostgresPool(configuration: replicaConfiguration),
          configuration: configuration.replicaRouting, metricsFactory: configuration.metricsFactory)
      } catch {
        await pool.close()
        throw error
      }
    }
    // One client pool per remote peer some hosted service calls, shared by those services.
    let needed = Set(declarations.flatMap { $0.peers + $0.optionalPeers })
    var peerPools: [String: RPCClientPool] = [:]
    for (peer, resolver) in configuration.remotePeers where needed.contains(peer) {
      var poolLogger = logger
      poolLogger[metadataKey: "peer"] = "\(peer)"
      peerPools[peer] = RPCClientPool(resolver: resolver, configuration: configuration.peerPool, logger: poolLogger)
    }
    let pools = peerPools
    do {
      try await migrate(declarations, pool: pool, logger: logger)
      let keys: AccessTokenKeySet
      if let directory = configuration.keysDirectory {
        let loaded = try AccessTokenKeySet.load(directory: directory)
        if loaded.created { logger.notice("created an access token signing key", metadata: ["directory": "\(directory)"]) }
        keys = loaded.keys
      } else {
        keys = try .ephemeral()
      }
      let tokens = await AccessTokens(keys: keys)

      // Transports are late-bound: services are made before the server they will call through.
      let serverBox = Mutex<RPCServer?>(nil)
      let hostedNames = Set(declarations.map(\.name))
      let reachable = hostedNames.union(pools.keys)
      var made: [HostedService] = []
      for declaration in declarations {
        let credentials = ServiceCallCredentials(SelfIssuedServiceTokens(tokens: tokens, serviceName: declaration.name))
        let transports = Mutex<[String: any ClientTransport]>([:])
        let peers = PeerDirectory(reachable: reachable) { peer in
          transports.withLock { cache in
            if let transport = cache[peer] { return transport }
            let transport: any ClientTransport
            if let pool = pools[peer] {
              transport = InterceptedTransport(pool, interceptors: [credentials])
            } else if hostedNames.contains(peer), let server = serverBox.withLock({ $0 }) {
              transport = InProcessTransport(server: server, interceptors: [credentials])
            } else {
              return nil
            }
            cache[peer] = transport
            return transport
          }
        }
        var serviceLogger = logger
        serviceLogger[metadataKey: "service"] = "\(declaration.name)"
        let environment = ServiceEnvironment(
          pool: pool, tokens: tokens, peers: peers, logger: serviceLogger,
          settings: configuration.settings[declaration.name] ?? [:], announce: configuration.announce, replica: replica)
        made.append(try await declaration.make(environment))
      }
      let server = RPCServer(
        services: made.map(\.rpc) + configuration.extraServices, interceptors: [AuthInterceptor(tokens: tokens)],
        configuration: configuration.server, logger: logger)
      serverBox.withLock { $0 = server }
      var lagLogger = logger
      lagLogger[metadataKey: "database"] = "replica"
      let monitor: [any Service] = replica.map { [$0.lagMonitor(every: configuration.replicaLagInterval, logger: lagLogger)] } ?? []
      return EmporiumApp(
        server: server, services: [server] + made.flatMap(\.background) + monitor, pool: pool, replica: replica,
        tokens: tokens, hosted: declarations.map(\.name), peerPools: pools)
    } catch {
      for peerPool in pools.values { await peerPool.close() }
      await replica?.replica.close()
      await pool.close()
      throw error
    }
  }

  /// Migrates each service's schema: the shared platform tables, then the service's own
  /// migrations (as ``start(_:logger:)`` does; `emporium seed` calls it before loading).
  public static func migrate(_ declarations: [ServiceDeclaration], pool: PostgresPool, logger: Logger) async throws {
    for declaration in declarations {
      let platform = try await PlatformMigrations.apply(to: declaration.schema, pool: pool)
      let own = try await Migrator(pool: pool, schema: declaration.schema).migrate(declaration.migrations)
      logger.info(
        "schema migrated",
        metadata: [
          "service": "\(declaration.name)", "schema": "\(declaration.schema)",
          "applied": "\((platform.applied + own.applied).map(\.label))",
        ])
    }
  }

  /// `url` with `settings` as libpq's `options` parameter (`-c name=value ...`), for both the
  /// URL form and the `key=value` form; unchanged when it already sets `options` or there is
  /// nothing to set.
  static func withSessionSettings(_ url: String, _ settings: [String: String]) -> String {
    guard !settings.isEmpty, !url.contains("options=") else { return url }
    let options = settings.sorted { $0.key < $1.key }.map { "-c \($0.key)=\($0.value)" }.joined(separator: " ")
    if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
      var allowed = CharacterSet.alphanumerics
      allowed.insert(charactersIn: "-._~")
      let encoded = options.addingPercentEncoding(withAllowedCharacters: allowed) ?? options
      return url + (url.contains("?") ? "&" : "?") + "options=" + encoded
    }
    return url + " options='" + options + "'"
  }

  /// Every peer a hosted service needs must be hosted here or reached remotely (`remote`), and
  /// no service may be both.
  static func checkPeers(of declarations: [ServiceDeclaration], remote: Set<String> = []) throws {
    let names = Set(declarations.map(\.name))
    var seen: Set<String> = []
    for declaration in declarations {
      guard seen.insert(declaration.name).inserted else {
        throw StartError(description: "service '\(declaration.name)' is listed twice")
      }
      guard !remote.contains(declaration.name) else {
        throw StartError(description: "service '\(declaration.name)' is hosted here and also given as a remote peer")
      }
      for peer in declaration.peers where !names.contains(peer) && !remote.contains(peer) {
        throw StartError(
          description: "service '\(declaration.name)' calls '\(peer)', which this process neither hosts nor reaches: host it, or give its address as a peer")
      }
    }
  }

  /// Closes the pools; call after the services have stopped.
  public func close() async {
    for peerPool in peerPools.values { await peerPool.close() }
    await replica?.replica.close()
    await pool.close()
  }
}
