import ArgumentParser
import CommerceKit
import Foundation
import Logging
import EmporiumApp
import Messages
import NIOCore
import PostgresEmbedded
import RPC
import ServiceLifecycle
import UnixSignals

/// `emporium serve`: the RPC server, with its database.
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the RPC server until SIGTERM or SIGINT (which drain in-flight calls).",
    discussion: """
      Without a database URL (--database-url or EMPORIUM_DATABASE_URL) the server starts an \
      embedded PostgreSQL cluster: a throwaway one, or one kept in --data-dir. With \
      --metrics-port, Prometheus scrapes http://HOST:PORT/metrics on the --listen host.
      """
  )

  @Option(help: "Address to listen on.")
  var listen = HostPort(host: "127.0.0.1", port: 7700)

  @Option(help: "PostgreSQL URL (default: $EMPORIUM_DATABASE_URL, else an embedded cluster).")
  var databaseURL: String?

  @Option(
    help: ArgumentHelp(
      "PostgreSQL URL of a streaming replica of the database (default: $EMPORIUM_DATABASE_REPLICA_URL).",
      discussion: "Catalog searches, product pages, recommendations and list calls read from it; writes, and a caller's reads until the replica has replayed that caller's last write, stay on the primary. Needs --database-url."))
  var databaseReplicaURL: String?

  @Option(help: "Keep the embedded cluster's data in this directory (created on first use).")
  var dataDir: String?

  @Option(help: "Seconds in-flight calls get to finish on shutdown.")
  var drainTimeout = 30

  @Flag(help: "Serve only the database-free services (health, reflection, and echo with --echo), without a database.")
  var noDatabase = false

  @Option(
    help: ArgumentHelp(
      "Directory of the access token signing keys (created with a first key when empty).",
      discussion: "Default: $EMPORIUM_KEYS_DIR, else .emporium/keys when the database is kept (--data-dir or a URL), else one throwaway key in memory."
    ))
  var keysDir: String?

  @Option(
    help: ArgumentHelp(
      "The services this process hosts, comma-separated (default: every service).",
      discussion: "Services it does not host but calls are reached through --peers."))
  var services: String?

  @Option(
    help: ArgumentHelp(
      "Where the services this process calls but does not host run: NAME=HOST:PORT[|HOST:PORT...], comma-separated (repeatable).",
      discussion: "One named host is resolved through DNS (every address it has); otherwise the addresses are a static list. Processes that call each other must share --keys-dir."))
  var peers: [String] = []

  @Flag(help: "Host emporium.rpc.v1.EchoService (tests, benchmarks, development); off by default.")
  var echo = false

  @Option(
    name: .customLong("setting"),
    help: ArgumentHelp(
      "A service setting, SERVICE.NAME=VALUE (repeatable), for example orders.checkout-reservation-ttl=300.",
      discussion: "Each service's settings are listed in its declaration's documentation (docs/ORDERS.md, docs/PAYMENTS.md, docs/AUTH.md)."
    ))
  var settings: [ServiceSetting] = []

  @Option(help: "Serve Prometheus metrics at /metrics on this port of the --listen host (0: off).")
  var metricsPort = 0

  @Option(help: "Log level: trace, debug (adds a line per call), info, notice, warning, error or critical.")
  var logLevel = LogLevel(.info)

  /// The declarations --services names.
  func hostedServices() throws -> [ServiceDeclaration] {
    guard let services else { return ServiceCatalog.all }
    let names = services.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !names.isEmpty else { throw ValidationError("--services: name at least one service") }
    do {
      return try ServiceCatalog.named(names)
    } catch {
      throw ValidationError("--services: \(error)")
    }
  }

  func peerMap() throws -> PeerMap {
    var map = PeerMap()
    do {
      for text in peers { try map.parse(text) }
    } catch {
      throw ValidationError("--peers: \(error)")
    }
    return map
  }

  func validate() throws {
    guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be 0...65535") }
    if noDatabase, databaseReplicaURL != nil { throw ValidationError("--database-replica-url needs a database; drop --no-database") }
    _ = try hostedServices()
    _ = try peerMap()
    let hosted = Set(ServiceCatalog.all.map(\.name))
    for setting in settings where !hosted.contains(setting.service) {
      throw ValidationError("--setting \(setting.service).\(setting.name): no service is named '\(setting.service)'; known: \(hosted.sorted().joined(separator: ", "))")
    }
  }

  mutating func run() async throws {
    logLevel.bootstrapLogging()
    let logger = Logger(label: "emporium")
    // Before the server exists: it takes its metrics factory when created.
    let metricsEndpoint = prometheusEndpoint(host: listen.host, port: metricsPort, logger: logger)
    let primaryURL = databaseURL ?? ProcessInfo.processInfo.environment["EMPORIUM_DATABASE_URL"]
    let replicaURL = (databaseReplicaURL ?? ProcessInfo.processInfo.environment["EMPORIUM_DATABASE_REPLICA_URL"])
      .flatMap { $0.isEmpty ? nil : $0 }
    if !noDatabase, replicaURL != nil, (primaryURL ?? "").isEmpty {
      throw ValidationError("--database-replica-url needs --database-url (the replica's primary); the embedded cluster has no replica")
    }
    let database =
      noDatabase
      ? nil
      : try await ServerDatabase.open(
        url: primaryURL, dataDirectory: dataDir,
        logger: logger)
    var configuration = RPCServer.Configuration()
    configuration.host = listen.host
    configuration.port = listen.port
    configuration.drainTimeout = .seconds(Int64(drainTimeout))
    var app: EmporiumApp?
    let running: [any Service]
    if let database {
      var appConfiguration = EmporiumApp.Configuration(databaseURL: database.url)
      appConfiguration.databaseReplicaURL = replicaURL
      if let replicaURL { logger.info("using read replica", metadata: ["url": "\(ServerDatabase.redacted(replicaURL))"]) }
      appConfiguration.services = try hostedServices()
      appConfiguration.remotePeers = try peerMap().resolvers
      appConfiguration.server = configuration
      appConfiguration.extraServices = echo ? [EchoService()] : []
      for setting in settings { appConfiguration.settings[setting.service, default: [:]][setting.name] = setting.value }
      appConfiguration.keysDirectory =
        keysDir ?? ProcessInfo.processInfo.environment["EMPORIUM_KEYS_DIR"] ?? (database.isKept ? ".emporium/keys" : nil)
      do {
        app = try await EmporiumApp.start(appConfiguration, logger: logger)
      } catch {
        try? await database.close()
        throw error
      }
      running = app!.services
      logger.info("services hosted", metadata: ["services": "\(app!.hosted)"])
    } else {
      running = [RPCServer(services: echo ? [EchoService()] : [], configuration: configuration, logger: logger)]
    }
    var services = running.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
    if let metricsEndpoint { services.append(.init(service: metricsEndpoint)) }
    let group = ServiceGroup(
      configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    do {
      try await group.run()
    } catch {
      await app?.close()
      try? await database?.close()
      throw error
    }
    await app?.close()
    try await database?.close()
  }
}

/// The server's database: a URL given by the operator, or an embedded cluster it owns.
struct ServerDatabase {
  let url: String
  private let embedded: EmbeddedPostgres?

  /// Whether the data outlives this process (an operator's URL, or an embedded cluster in a
  /// --data-dir).
  var isKept: Bool { embedded.map { !$0.isTemporary } ?? true }

  static func open(url: String?, dataDirectory: String?, logger: Logger) async throws -> ServerDatabase {
    if let url, !url.isEmpty {
      logger.info("using database", metadata: ["url": "\(redacted(url))"])
      return ServerDatabase(url: url, embedded: nil)
    }
    var configuration = EmbeddedPostgres.Configuration()
    configuration.dataDirectory = dataDirectory
    configuration.progress = { progress in logger.info("embedded postgres", metadata: ["step": "\(progress)"]) }
    let cluster = try await EmbeddedPostgres.start(configuration)
    let url = try await cluster.createDatabase("emporium", ifExists: .reuse)
    logger.info(
      "embedded postgres ready",
      metadata: ["url": "\(url)", "dataDirectory": "\(cluster.dataDirectory)", "kept": "\(!cluster.isTemporary)"])
    return ServerDatabase(url: url, embedded: cluster)
  }

  func close() async throws {
    try await embedded?.stop()
  }

  /// The URL without its password.
  static func redacted(_ url: String) -> String {
    guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://"), scheme.upperBound < at else { return url }
    let credentials = url[scheme.upperBound..<at]
    guard let colon = credentials.firstIndex(of: ":") else { return url }
    return String(url[..<colon]) + ":***" + String(url[at...])
  }
}

/// `--setting SERVICE.NAME=VALUE`.
struct ServiceSetting: ExpressibleByArgument, Sendable {
  var service: String
  var name: String
  var value: String

  init?(argument: String) {
    guard let equals = argument.firstIndex(of: "="), let dot = argument[..<equals].firstIndex(of: ".") else { return nil }
    service = String(argument[..<dot])
    name = String(argument[argument.index(after: dot)..<equals])
    value = String(argument[argument.index(after: equals)...])
    guard !service.isEmpty, !name.isEmpty else { return nil }
  }
}
