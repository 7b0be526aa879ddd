import ArgumentParser
import Logging

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
}
