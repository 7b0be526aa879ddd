extension EmbeddedPostgres {
  /// A step of starting or stopping a cluster, reported to ``Configuration/progress``.
  ///
  /// ``description`` gives a constant, human-readable line ("initializing cluster"); the
  /// associated values carry the details for structured logging.
  public enum Progress: Sendable, Hashable, CustomStringConvertible {
    /// `initdb` is creating a new cluster in the directory.
    case initializingCluster(dataDirectory: String)
    /// The directory already holds a cluster, which is started as it is.
    case reusingCluster(dataDirectory: String)
    /// `pg_basebackup` is copying the primary into a replica's data directory
    /// (``EmbeddedPostgres/startReplica(_:)``).
    case copyingBaseBackup(dataDirectory: String)
    /// `pg_ctl start` is starting the server on the port.
    case starting(port: Int)
    /// The port was taken by the time the server bound it; a new port is tried next.
    case portTaken(port: Int)
    /// The server accepts connections on the port.
    case ready(port: Int)
    /// ``EmbeddedPostgres/stop()`` is stopping the server.
    case stopping
    /// The server is stopped and a temporary data directory removed.
    case stopped

    /// A constant line for a person, such as "initializing cluster" or "starting on port 5433".
    public var description: String {
      switch self {
      case .initializingCluster: "initializing cluster"
      case .reusingCluster: "reusing cluster"
      case .copyingBaseBackup: "copying base backup"
      case .starting(let port): "starting on port \(port)"
      case .portTaken(let port): "port \(port) taken, retrying"
      case .ready: "ready"
      case .stopping: "stopping"
      case .stopped: "stopped"
      }
    }
  }
}
