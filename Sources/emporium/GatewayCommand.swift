import ArgumentParser
import CommerceKit
import EmporiumApp
import EmporiumGateway
import Foundation
import Logging
import NIOCore
import RPC
import ServiceLifecycle
import UnixSignals

/// `emporium gateway`: the API gateway in front of the service processes.
struct GatewayCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gateway",
    abstract: "Run the API gateway until SIGTERM or SIGINT (which drain in-flight calls).",
    discussion: """
      The gateway is the single entry point for clients: it verifies a user's access token once, \
      forwards the user to the services as an identity it signs, limits the request rate per \
      principal and per client address (RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure), and \
      forwards every commerce method through one client pool per service. It must share the \
      services' signing keys (--keys-dir). docs/GATEWAY.md.
      """
  )

  @Option(help: "Address of the binary protocol's listener.")
  var listen = HostPort(host: "127.0.0.1", port: 8700)

  @Option(help: "Address of the HTTP/JSON face and the storefront page (POST /v1/{Service}/{Method}; GET /).")
  var httpListen = HostPort(host: "127.0.0.1", port: 8080)

  @Flag(help: "Serve the binary protocol only, without the HTTP/JSON face.")
  var noHTTP = false

  @Option(help: "Where every service runs unless --peers says otherwise (one `emporium serve` hosting them all).")
  var upstream: HostPort?

  @Option(
    help: ArgumentHelp(
      "Where each service runs: NAME=HOST:PORT[|HOST:PORT...], comma-separated (repeatable); NAME as in `emporium serve --services`.",
      discussion: "One named host is resolved through DNS; otherwise the addresses are a static list."))
  var peers: [String] = []

  @Option(help: "Directory of the access token signing keys the services use (default: $EMPORIUM_KEYS_DIR, else .emporium/keys).")
  var keysDir: String?

  @Option(help: "Requests per second each principal (a user, a service identity) may make.")
  var ratePerPrincipal: Double = 100

  @Option(help: "Requests a principal may make at once before its rate applies.")
  var burstPerPrincipal: Double = 200

  @Option(help: "Requests per second each client address may make.")
  var ratePerClient: Double = 1_000

  @Option(help: "Requests a client address may make at once before its rate applies.")
  var burstPerClient: Double = 2_000

  @Option(help: "Seconds in-flight calls get to finish on shutdown.")
  var drainTimeout = 30

  @Option(help: "Serve Prometheus metrics at /metrics on this port of the --listen host (0: off).")
  var metricsPort = 0

  @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
  var logLevel = LogLevel(.info)

  /// Where each route's peer is: --peers, then --upstream for the rest.
  func peerMap() throws -> PeerMap {
    var map = PeerMap()
    do {
      for text in peers { try map.parse(text) }
      if let upstream {
        let missing = Set(GatewayRoute.commerce.map(\.peer)).subtracting(map.peers.keys).sorted()
        let host = upstream.host.contains(":") ? "[\(upstream.host)]" : upstream.host
        if !missing.isEmpty { try map.parse(missing.map { "\($0)=\(host):\(upstream.port)" }.joined(separator: ",")) }
      }
    } catch {
      throw ValidationError("--peers: \(error)")
    }
    let unknown = Set(map.peers.keys).subtracting(GatewayRoute.commerce.map(\.peer)).sorted()
    guard unknown.isEmpty else {
      throw ValidationError(
        "--peers: no service is named \(unknown.map { "'\($0)'" }.joined(separator: ", ")); known: \(GatewayRoute.commerce.map(\.peer).sorted().joined(separator: ", "))")
    }
    let missing = Set(GatewayRoute.commerce.map(\.peer)).subtracting(map.peers.keys).sorted()
    guard missing.isEmpty else {
      throw ValidationError(
        "no address for \(missing.map { "'\($0)'" }.joined(separator: ", ")): give each in --peers, or --upstream for all")
    }
    return map
  }

  func validate() throws {
    guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be 0...65535") }
    guard ratePerPrincipal > 0, ratePerClient > 0 else { throw ValidationError("rates must be above 0") }
    guard burstPerPrincipal >= 1, burstPerClient >= 1 else { throw ValidationError("bursts must be at least 1") }
    _ = try peerMap()
  }

  mutating func run() async throws {
    logLevel.bootstrapLogging()
    let logger = Logger(label: "emporium-gateway")
    let metricsEndpoint = prometheusEndpoint(host: listen.host, port: metricsPort, logger: logger)
    let directory = keysDir ?? ProcessInfo.processInfo.environment["EMPORIUM_KEYS_DIR"] ?? ".emporium/keys"
    let keys = try AccessTokenKeySet.load(directory: directory)
    if keys.created { logger.notice("created an access token signing key", metadata: ["directory": "\(directory)"]) }
    let tokens = await AccessTokens(keys: keys.keys)
    var configuration = Gateway.Configuration()
    configuration.server.host = listen.host
    configuration.server.port = listen.port
    configuration.server.drainTimeout = .seconds(Int64(drainTimeout))
    configuration.peers = try peerMap().resolvers
    configuration.perPrincipal = .init(perSecond: ratePerPrincipal, burst: burstPerPrincipal)
    configuration.perClient = .init(perSecond: ratePerClient, burst: burstPerClient)
    if !noHTTP {
      var http = GatewayHTTP.Configuration()
      http.host = httpListen.host
      http.port = httpListen.port
      configuration.http = http
    }
    let gateway = try Gateway(configuration, tokens: tokens, logger: logger)
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: gateway.server)]
    if let http = gateway.http {
      services.append(.init(service: http.application(logger: logger)))
      logger.info("HTTP/JSON face listening", metadata: ["address": "\(httpListen.host):\(httpListen.port)"])
    }
    if let metricsEndpoint { services.append(.init(service: metricsEndpoint)) }
    logger.info("gateway listening", metadata: ["address": "\(listen.host):\(listen.port)"])
    let group = ServiceGroup(
      configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    do {
      try await group.run()
    } catch {
      await gateway.close()
      throw error
    }
    await gateway.close()
  }
}
