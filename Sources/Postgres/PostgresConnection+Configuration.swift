import CLibPQ
import Foundation

extension PostgresConnection {
  /// How to reach the server and how a connection behaves.
  public struct Configuration: Sendable {
    /// A libpq connection string: a `postgresql://` URL or `key=value` pairs. It may hold a
    /// password; the driver never puts it, or any part of it, in an error or a log.
    public var url: String

    /// How long connecting (TCP, TLS, authentication) may take. Default 10 seconds.
    public var connectTimeout: Duration

    /// How many prepared statements each connection keeps (keyed by SQL text and parameter
    /// types). Past this, new SQL runs unprepared. Default 512.
    public var statementCacheCapacity: Int

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - url: A libpq connection string (URL or `key=value` pairs).
    ///   - connectTimeout: How long connecting may take.
    ///   - statementCacheCapacity: The most prepared statements per connection.
    public init(url: String, connectTimeout: Duration = .seconds(10), statementCacheCapacity: Int = 512) {
      self.url = url
      self.connectTimeout = connectTimeout
      self.statementCacheCapacity = statementCacheCapacity
    }

    /// The password in ``url`` (from libpq's own parser), to scrub from libpq's messages.
    var secrets: [String] {
      guard let options = PQconninfoParse(self.url, nil) else { return [] }
      defer { PQconninfoFree(options) }
      var secrets: [String] = []
      var option = options
      while let keyword = option.pointee.keyword {
        if String(cString: keyword) == "password", let value = option.pointee.val {
          let password = String(cString: value)
          if !password.isEmpty {
            secrets.append(password)
          }
        }
        option += 1
      }
      return secrets
    }
  }
}
