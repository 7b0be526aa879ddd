import ArgumentParser

/// A server address, `HOST:PORT` (`[::1]:7700` for IPv6 literals; a bare host means port 7700).
struct HostPort: ExpressibleByArgument, Hashable, Sendable, CustomStringConvertible {
  static let defaultPort = 7700
  static let `default` = HostPort(host: "127.0.0.1", port: defaultPort)

  var host: String
  var port: Int

  init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  init?(argument: String) {
    var host = Substring(argument)
    var port = Self.defaultPort
    if host.hasPrefix("[") {
      guard let close = host.firstIndex(of: "]") else { return nil }
      let rest = host[host.index(after: close)...]
      host = host[host.index(after: host.startIndex)..<close]
      if !rest.isEmpty {
        guard rest.hasPrefix(":"), let parsed = Int(rest.dropFirst()) else { return nil }
        port = parsed
      }
    } else if let colon = host.lastIndex(of: ":") {
      guard host.firstIndex(of: ":") == colon, let parsed = Int(host[host.index(after: colon)...]) else { return nil }
      port = parsed
      host = host[..<colon]
    }
    guard !host.isEmpty, (1...65535).contains(port), !host.contains(where: { $0 == " " || $0 == "/" }) else {
      return nil
    }
    self.init(host: String(host), port: port)
  }

  var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

  static var defaultValueDescription: String { "\(HostPort.default)" }
}
