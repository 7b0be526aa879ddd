import Foundation

extension EmbeddedPostgres {
  /// How to launch a cluster. Every property has a default, so `Configuration()` launches a
  /// throwaway cluster on a free port.
  public struct Configuration: Sendable {
    /// The directory holding `initdb` and `pg_ctl`.
    ///
    /// `nil` (the default) looks at the environment variable `EMPORIUM_PG_BIN`, then at the
    /// highest-versioned `/usr/lib/postgresql/<version>/bin` holding both programs. `PATH` is
    /// never searched. A directory named here or in `EMPORIUM_PG_BIN` that lacks the programs
    /// is an error (``EmbeddedPostgresError/Code/binariesNotFound``), not a reason to look
    /// elsewhere.
    public var binDirectory: String?

    /// Where the cluster lives.
    ///
    /// `nil` (the default) creates a fresh temporary directory, removed by
    /// ``EmbeddedPostgres/stop()`` or, if the owner process dies first, by the watchdog.
    /// A path names a directory that the caller owns and that is never removed: it is created
    /// (with missing parents) and initialized on first use, and reused when it already holds a
    /// cluster (has a `PG_VERSION` file). A relative path is resolved against the current
    /// directory.
    public var dataDirectory: String?

    /// The TCP port on 127.0.0.1. `nil` (the default) picks a free one, and picks another if the
    /// server then finds it taken; a port given here is used as is, and a taken one fails the
    /// start.
    public var port: Int?

    /// The superuser role `initdb` creates, used in every URL. Default `"emporium"`. Used only
    /// when a cluster is initialized; a reused cluster keeps the superuser it was made with.
    public var superuser: String

    /// Extra server settings, passed as `-c name=value` and winning over the launcher's own
    /// (`max_connections=200`; `fsync`, `synchronous_commit` and `full_page_writes` off for a
    /// temporary cluster). `port` and `listen_addresses` cannot be set here: the launcher always
    /// listens on 127.0.0.1 only, on ``port``.
    public var serverSettings: [String: String]

    /// The locale `initdb` gives a new cluster (encoding UTF8). Default `"C.UTF-8"`: byte-order
    /// sorting with Unicode-aware `upper`/`lower`, and the same on every glibc machine.
    public var locale: String

    /// How long `pg_ctl start` may wait for the server to accept connections. Default 60 seconds.
    public var startTimeout: Duration

    /// The process whose exit stops the cluster (see ``EmbeddedPostgres`` on cleanup).
    /// `nil` (the default) means the current process. Tests name a stand-in process here to
    /// check cleanup without dying themselves.
    public var ownerProcessID: Int32?

    /// Called with each step of starting and stopping, on whatever thread reaches that step, so
    /// that a command-line tool can show progress. Must return quickly.
    public var progress: (@Sendable (Progress) -> Void)?

    /// Creates a configuration; every parameter has the default described on its property.
    public init(
      binDirectory: String? = nil,
      dataDirectory: String? = nil,
      port: Int? = nil,
      superuser: String = "emporium",
      serverSettings: [String: String] = [:],
      locale: String = "C.UTF-8",
      startTimeout: Duration = .seconds(60),
      ownerProcessID: Int32? = nil,
      progress: (@Sendable (Progress) -> Void)? = nil
    ) {
      self.binDirectory = binDirectory
      self.dataDirectory = dataDirectory
      self.port = port
      self.superuser = superuser
      self.serverSettings = serverSettings
      self.locale = locale
      self.startTimeout = startTimeout
      self.ownerProcessID = ownerProcessID
      self.progress = progress
    }
  }
}

extension EmbeddedPostgres.Configuration {
  /// The settings the server starts with: the launcher's, then ``serverSettings`` over them.
  ///
  /// - Parameters:
  ///   - port: The port to listen on.
  ///   - durable: False for a temporary cluster, whose data is deleted anyway: it turns off
  ///     `fsync`, `synchronous_commit` and `full_page_writes`, trading crash safety for speed.
  func effectiveServerSettings(port: Int, durable: Bool) throws -> [String: String] {
    var settings = [
      "listen_addresses": "127.0.0.1",
      "port": String(port),
      // No Unix socket: TCP on loopback only, and no socket path length limit to trip over.
      "unix_socket_directories": "",
      "max_connections": "200",
    ]
    if !durable {
      settings["fsync"] = "off"
      settings["synchronous_commit"] = "off"
      settings["full_page_writes"] = "off"
    }
    for (name, value) in self.serverSettings {
      let lowered = name.lowercased()
      guard lowered != "port", lowered != "listen_addresses" else {
        throw EmbeddedPostgresError(
          code: .invalidArgument,
          message: "serverSettings cannot set \(name): the launcher listens on 127.0.0.1 only; "
            + "use Configuration.port to choose the port."
        )
      }
      settings[lowered] = value
    }
    return settings
  }

  /// Checks what can be checked before touching the file system.
  func validate() throws {
    if let port, !(1...65_535).contains(port) {
      throw EmbeddedPostgresError(
        code: .invalidArgument, message: "Port \(port) is not in 1...65535.")
    }
    if self.superuser.isEmpty || self.superuser.utf8.count > 63 || self.superuser.utf8.contains(0) {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message: "The superuser name must be 1 to 63 bytes of UTF-8 without NUL."
      )
    }
    if self.startTimeout <= .zero {
      throw EmbeddedPostgresError(
        code: .invalidArgument, message: "The start timeout must be positive.")
    }
    _ = try self.effectiveServerSettings(port: 1, durable: true)
  }
}
