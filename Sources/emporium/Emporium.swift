import ArgumentParser
import CoreMetrics
import Logging
import Prometheus
import RPC

/// `emporium`: the server executable.
@main
struct Emporium: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "emporium",
    abstract: "Emporium: the commerce backend's RPC server.",
    subcommands: [Serve.self, GatewayCommand.self, PostgresCommand.self, Migrate.self, Seed.self, Demo.self, Health.self, PaymentSandboxCommand.self],
    defaultSubcommand: Serve.self
  )
}

/// `HOST:PORT`, validated.
struct HostPort: ExpressibleByArgument, CustomStringConvertible, Sendable {
  var host: String
  var port: Int

  init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  init?(argument: String) {
    guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
      (0...65535).contains(port)
    else { return nil }
    let host = String(argument[..<colon]).trimmingCharacters(in: ["[", "]"])
    guard !host.isEmpty else { return nil }
    self.init(host: host, port: port)
  }

  var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension String {
  fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
    var slice = Substring(self)
    while let first = slice.first, set.contains(first) { slice.removeFirst() }
    while let last = slice.last, set.contains(last) { slice.removeLast() }
    return String(slice)
  }
}

/// A swift-log level by name (`debug`, `info`, ...).
struct LogLevel: ExpressibleByArgument, Sendable {
  var level: Logger.Level

  init(_ level: Logger.Level) { self.level = level }

  init?(argument: String) {
    guard let level = Logger.Level(rawValue: argument.lowercased()) else { return nil }
    self.level = level
  }

  static var allValueStrings: [String] { Logger.Level.allCases.map(\.rawValue) }

  /// Sends every logger of the process to standard error at this level (once, at a command's
  /// start).
  func bootstrapLogging() {
    let level = level
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
  }
}

/// `--metrics-port`: bootstraps swift-metrics with a Prometheus registry and makes the endpoint
/// that serves it at http://HOST:PORT/metrics (nil when `port` is 0). Call before anything
/// records metrics: servers take the factory when they are created.
func prometheusEndpoint(host: String, port: Int, logger: Logger) -> MetricsEndpoint? {
  guard port != 0 else { return nil }
  let registry = PrometheusCollectorRegistry()
  MetricsSystem.bootstrap(RPCMetrics.prometheusFactory(registry: registry))
  var endpoint = MetricsEndpoint.Configuration()
  endpoint.host = host
  endpoint.port = port
  return MetricsEndpoint(registry: registry, configuration: endpoint, logger: logger)
}
