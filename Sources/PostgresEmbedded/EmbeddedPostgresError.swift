/// An error from ``EmbeddedPostgres`` or ``TestCluster``.
///
/// The ``code`` says what went wrong in a way code can match on; the ``message`` says it to a
/// person and, where a PostgreSQL tool failed, ends with the tail of that tool's output or of the
/// server log. Messages name directories, ports and database names but never a connection URL, so
/// a password given through `EMPORIUM_TEST_DATABASE_URL` cannot leak into a log.
public struct EmbeddedPostgresError: Error, Sendable, Hashable {
  /// What kind of failure this is.
  public var code: Code

  /// A description of the failure for a person to read.
  public var message: String

  /// The error that caused this one, if any (for example the `CocoaError` from creating a
  /// directory). Not part of equality.
  public var cause: (any Error)?

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - code: What kind of failure this is.
  ///   - message: A description for a person; must not contain secrets.
  ///   - cause: The underlying error, if any.
  public init(code: Code, message: String, cause: (any Error)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  /// Errors are equal when their codes and messages are (the cause is not compared).
  public static func == (lhs: Self, rhs: Self) -> Bool {
    lhs.code == rhs.code && lhs.message == rhs.message
  }

  /// Hashes the code and the message, like ``==``.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(self.code)
    hasher.combine(self.message)
  }
}

extension EmbeddedPostgresError: CustomStringConvertible {
  /// `code: message`, followed by the cause when there is one.
  public var description: String {
    if let cause = self.cause {
      return "\(self.code): \(self.message) (cause: \(cause))"
    }
    return "\(self.code): \(self.message)"
  }
}

extension EmbeddedPostgresError {
  /// The kind of an ``EmbeddedPostgresError``.
  ///
  /// A struct rather than an enum so that new kinds can be added without breaking code that
  /// switches over the existing ones; compare with `==` or match with `case .timedOut:`.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: Hashable, Sendable {
      case binariesNotFound
      case serverAccountUnavailable
      case dataDirectoryUnusable
      case initdbFailed
      case baseBackupFailed
      case startFailed
      case timedOut
      case stopFailed
      case stopped
      case connectionFailed
      case sqlFailed
      case invalidArgument
      case commandFailed
    }

    private let wrapped: Wrapped

    private init(_ wrapped: Wrapped) {
      self.wrapped = wrapped
    }

    /// The code's name, such as `binariesNotFound`.
    public var description: String {
      String(describing: self.wrapped)
    }

    /// No directory holding `initdb` and `pg_ctl` was found; the message names the directories
    /// searched.
    public static let binariesNotFound = Self(.binariesNotFound)

    /// Running as root, but the `postgres` system user or `runuser` is missing.
    public static let serverAccountUnavailable = Self(.serverAccountUnavailable)

    /// The data directory could not be created, or its path cannot be used.
    public static let dataDirectoryUnusable = Self(.dataDirectoryUnusable)

    /// `initdb` failed; the message ends with its output.
    public static let initdbFailed = Self(.initdbFailed)

    /// `pg_basebackup` could not copy the primary for a replica; the message ends with its output.
    public static let baseBackupFailed = Self(.baseBackupFailed)

    /// `pg_ctl start` failed; the message ends with the tail of the server log.
    public static let startFailed = Self(.startFailed)

    /// The server did not become ready within the configured start timeout.
    public static let timedOut = Self(.timedOut)

    /// `pg_ctl stop` could not stop the server.
    public static let stopFailed = Self(.stopFailed)

    /// The cluster was already stopped.
    public static let stopped = Self(.stopped)

    /// libpq could not connect to the server.
    public static let connectionFailed = Self(.connectionFailed)

    /// The server rejected a statement (for example `CREATE DATABASE`).
    public static let sqlFailed = Self(.sqlFailed)

    /// An argument or configuration value cannot be used (for example an empty database name).
    public static let invalidArgument = Self(.invalidArgument)

    /// A helper program could not be run at all.
    public static let commandFailed = Self(.commandFailed)
  }
}
