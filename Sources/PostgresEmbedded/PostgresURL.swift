import Foundation

/// Builds and edits libpq connection URLs (`postgresql://user@host:port/database`).
enum PostgresURL {
  /// A URL for `user` on `host:port`, database `database`, with both names percent-encoded.
  static func make(user: String, host: String, port: Int, database: String) -> String {
    "postgresql://\(Self.encode(user))@\(host):\(port)/\(Self.encode(database))"
  }

  /// `url` with its database (the path) replaced by `database`, everything else (credentials,
  /// hosts, query parameters such as `sslmode`) kept.
  ///
  /// - Throws: ``EmbeddedPostgresError/Code/invalidArgument`` when `url` is not a
  ///   `postgres://` or `postgresql://` URL. The message does not repeat the URL: it may hold a
  ///   password.
  static func replacingDatabase(in url: String, with database: String) throws -> String {
    guard var components = URLComponents(string: url),
      let scheme = components.scheme?.lowercased(),
      scheme == "postgresql" || scheme == "postgres"
    else {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message: "The database server URL is not a postgresql:// URL (key=value connection "
          + "strings are not supported here)."
      )
    }
    components.percentEncodedPath = "/" + Self.encode(database)
    guard let replaced = components.string else {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message: "Could not build a URL for database \(database)."
      )
    }
    return replaced
  }

  /// `url` with `name=value` added to its query, for libpq options such as `connect_timeout`.
  static func adding(_ name: String, _ value: String, to url: String) -> String {
    url + (url.contains("?") ? "&" : "?") + Self.encode(name) + "=" + Self.encode(value)
  }

  /// Percent-encodes everything except RFC 3986's unreserved characters.
  static func encode(_ text: String) -> String {
    var encoded = ""
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "_"), UInt8(ascii: "~"):
        encoded.unicodeScalars.append(Unicode.Scalar(byte))
      default:
        let hex = String(byte, radix: 16, uppercase: true)
        encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
      }
    }
    return encoded
  }
}
