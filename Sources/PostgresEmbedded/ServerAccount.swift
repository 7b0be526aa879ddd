import Foundation

/// The operating-system account the PostgreSQL tools run as.
///
/// `initdb` and `pg_ctl` refuse to run as root. When this process is root the tools run as the
/// `postgres` system user (created by the Debian package `postgresql`) through util-linux
/// `runuser -u postgres --`, and every directory the launcher creates for the cluster is handed
/// to that user. Otherwise the tools run directly as the current user.
struct ServerAccount: Sendable, Hashable {
  /// The system user that runs the server when this process is root.
  static let systemUser = "postgres"

  /// Prepended to every tool's command line (empty when not root).
  var commandPrefix: [String]

  /// The owner to give directories created for the cluster (nil when not root).
  var owner: (uid: uid_t, gid: gid_t)? {
    guard let uid = self.uid, let gid = self.gid else { return nil }
    return (uid, gid)
  }

  private var uid: uid_t?
  private var gid: gid_t?

  /// The current user, running the tools directly.
  static let currentUser = Self(commandPrefix: [], uid: nil, gid: nil)

  /// The account for this process: ``currentUser``, or `postgres` through `runuser` when root.
  ///
  /// - Throws: ``EmbeddedPostgresError/Code/serverAccountUnavailable`` when root but the
  ///   `postgres` user or `runuser` is missing.
  static func forCurrentProcess() throws -> Self {
    guard geteuid() == 0 else { return .currentUser }

    guard let (uid, gid) = Self.lookUp(Self.systemUser) else {
      throw EmbeddedPostgresError(
        code: .serverAccountUnavailable,
        message: "Running as root, so the PostgreSQL tools must run as the system user "
          + "`\(Self.systemUser)`, which does not exist. Install the Debian package `postgresql` "
          + "(it creates that user), or run as an unprivileged user."
      )
    }
    let candidates = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"]
    guard
      let runuser = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) })
    else {
      throw EmbeddedPostgresError(
        code: .serverAccountUnavailable,
        message: "Running as root, so the PostgreSQL tools must run as `\(Self.systemUser)` "
          + "through runuser, which was not found in \(candidates.joined(separator: ", ")). "
          + "Install the Debian package `util-linux`, or run as an unprivileged user."
      )
    }
    return Self(
      commandPrefix: [runuser, "-u", Self.systemUser, "--"],
      uid: uid,
      gid: gid
    )
  }

  /// The user and group ids of `name` (getpwnam_r: getpwnam's static buffer is not thread-safe).
  private static func lookUp(_ name: String) -> (uid: uid_t, gid: gid_t)? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16 * 1024)
    let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
    guard status == 0, result != nil else { return nil }
    return (entry.pw_uid, entry.pw_gid)
  }

  /// A subprocess running `tool` with `arguments` as this account.
  func command(_ tool: String, _ arguments: [String]) -> Subprocess {
    let full = self.commandPrefix + [tool] + arguments
    return Subprocess(executable: full[0], arguments: Array(full.dropFirst()))
  }

  /// Hands `path` to this account (does nothing when not root).
  func takeOwnership(of path: String) throws {
    guard let (uid, gid) = self.owner else { return }
    guard chown(path, uid, gid) == 0 else {
      let reason = String(cString: strerror(errno))
      throw EmbeddedPostgresError(
        code: .dataDirectoryUnusable,
        message: "Could not give \(path) to the user `\(Self.systemUser)`: \(reason)."
      )
    }
  }
}
