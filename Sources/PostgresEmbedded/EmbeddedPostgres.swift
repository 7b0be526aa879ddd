import Foundation
import Synchronization

/// A PostgreSQL cluster launched from the system's server programs, for tests and for
/// `emporium serve` when no database URL is given.
///
/// ```swift
/// let postgres = try await EmbeddedPostgres.start()
/// let url = try await postgres.createDatabase("catalog")   // postgresql://emporium@127.0.0.1:PORT/catalog
/// // ... use url ...
/// try await postgres.stop()
/// ```
///
/// ## What runs
///
/// ``start(_:)`` finds `initdb` and `pg_ctl` (``Configuration/binDirectory``, then
/// `EMPORIUM_PG_BIN`, then the highest `/usr/lib/postgresql/<version>/bin`; never `PATH`),
/// initializes the data directory if it holds no cluster yet, and starts the server with
/// `pg_ctl start -w`, then confirms with libpq's `PQping`. The server listens on 127.0.0.1 only,
/// has no Unix socket, and trusts every loopback connection (no passwords): the superuser is
/// ``superuser`` (default `emporium`). Its log is ``logFile``; failures quote its tail.
///
/// When this process is root, `initdb` and `pg_ctl` run as the `postgres` system user through
/// `runuser`, and the directories the launcher creates belong to that user.
///
/// ## Who owns what
///
/// The caller owns the cluster and stops it with ``stop()``. A temporary data directory
/// (``Configuration/dataDirectory`` `nil`) belongs to the launcher and is removed on stop; a
/// directory the caller named is kept, to be started again later.
///
/// ## Cleanup when the owner dies
///
/// Every cluster has a watchdog: a small `/bin/sh` process that checks every half second whether
/// the owner process (``Configuration/ownerProcessID``, by default this one) still runs. Once the
/// owner is gone — normal exit, crash, Ctrl-C or `SIGKILL` — it stops the server (`pg_ctl stop
/// -m immediate`, or `-m fast` for a named directory) and removes a temporary data directory.
/// That is the only interrupt handling: the launcher installs no signal handlers. A cluster
/// whose last reference is dropped without ``stop()`` therefore keeps running until the owner
/// exits. ``stop()`` retires the watchdog.
public final class EmbeddedPostgres: Sendable {
  /// The TCP port the server listens on, on 127.0.0.1.
  public let port: Int

  /// The absolute path of the cluster's data directory.
  public let dataDirectory: String

  /// True when ``dataDirectory`` is temporary: removed by ``stop()`` or by the watchdog.
  public let isTemporary: Bool

  /// The superuser role that every URL connects as.
  public let superuser: String

  /// The server log (`postgres.log` in ``dataDirectory``).
  public let logFile: String

  /// The directory whose `initdb` and `pg_ctl` run this cluster.
  public let binDirectory: String

  /// For a replica (``startReplica(_:)``), the physical replication slot on its primary that it
  /// streams from; nil for a primary. ``stop()`` drops it.
  public var replicationSlot: String? { self.replication?.slot }

  /// The settings the server was started with (`-c name=value`), port included; a replica
  /// starts from its primary's (hot standby needs at least the primary's `max_connections`).
  let serverSettings: [String: String]
  /// For a replica: where its slot lives.
  let replication: ReplicationLink?

  let binaries: PostgresBinaries
  let account: ServerAccount
  let directory: DataDirectory
  let progress: (@Sendable (Progress) -> Void)?
  private let watchdog: Watchdog

  /// The stop in progress or done; set by the first call to ``stop()``.
  private let stopping = Mutex<Task<Void, any Error>?>(nil)

  init(
    port: Int,
    superuser: String,
    binaries: PostgresBinaries,
    account: ServerAccount,
    directory: DataDirectory,
    watchdog: Watchdog,
    serverSettings: [String: String],
    replication: ReplicationLink? = nil,
    progress: (@Sendable (Progress) -> Void)?
  ) {
    self.port = port
    self.dataDirectory = directory.path
    self.isTemporary = directory.isTemporary
    self.superuser = superuser
    self.logFile = directory.logFile
    self.binDirectory = binaries.directory
    self.binaries = binaries
    self.account = account
    self.directory = directory
    self.watchdog = watchdog
    self.serverSettings = serverSettings
    self.replication = replication
    self.progress = progress
  }

  /// A libpq URL for `database` as the superuser: `postgresql://emporium@127.0.0.1:PORT/DATABASE`,
  /// names percent-encoded. No password is needed (loopback connections are trusted).
  ///
  /// - Parameter database: The database to connect to; `postgres` (the default) always exists.
  public func url(database: String = "postgres") -> String {
    PostgresURL.make(user: self.superuser, host: "127.0.0.1", port: self.port, database: database)
  }

  /// True once ``stop()`` has been called.
  public var isStopped: Bool {
    self.stopping.withLock { $0 != nil }
  }

  /// Creates a database and returns its URL.
  ///
  /// The name is quoted as an identifier with libpq's `PQescapeIdentifier`, so any 1–63 byte name
  /// is safe, mixed case and quotes included. The blocking libpq calls run on a thread of their
  /// own; cancelling the caller does not interrupt them (they are bounded by a 10 second connect
  /// timeout and one short statement).
  ///
  /// - Parameters:
  ///   - name: The database's name.
  ///   - ifExists: What to do when it exists already; by default that is an error.
  /// - Returns: ``url(database:)`` for the database.
  /// - Throws: ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/stopped``,
  ///   ``EmbeddedPostgresError/Code/invalidArgument``, ``EmbeddedPostgresError/Code/connectionFailed``
  ///   or ``EmbeddedPostgresError/Code/sqlFailed``.
  public func createDatabase(_ name: String, ifExists: IfDatabaseExists = .fail) async throws
    -> String
  {
    guard !self.isStopped else {
      throw EmbeddedPostgresError(
        code: .stopped,
        message: "Cannot create database \(name): the cluster on port \(self.port) was stopped."
      )
    }
    try await ServerAdministration.createDatabase(name, adminURL: self.url(), ifExists: ifExists)
    return self.url(database: name)
  }

  /// Stops the server (`pg_ctl stop -m fast`, then `-m immediate` if that fails), removes a
  /// temporary data directory and retires the watchdog. A replica then drops its replication
  /// slot on the primary, if the primary still runs (see ``startReplica(_:)``).
  ///
  /// Idempotent: later and concurrent calls wait for the first one and share its outcome.
  /// A server that is already gone (stopped by the watchdog, say) counts as stopped. Cancelling
  /// the caller does not interrupt the stop: it runs to completion so that nothing leaks.
  /// If it fails, the watchdog stays, so the cluster is still cleaned up when the owner exits.
  ///
  /// - Throws: ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/stopFailed`` or
  ///   ``EmbeddedPostgresError/Code/dataDirectoryUnusable`` (the directory could not be removed).
  public func stop() async throws {
    let task = self.stopping.withLock { stopping in
      if let task = stopping {
        return task
      }
      let task = Task { try await self.performStop() }
      stopping = task
      return task
    }
    try await task.value
  }

  private func performStop() async throws {
    self.progress?(.stopping)
    if self.postmasterIsRunning {
      let fast = try await self.pgCtlStop(mode: "fast")
      if !fast.succeeded, self.postmasterIsRunning {
        let immediate = try await self.pgCtlStop(mode: "immediate")
        if !immediate.succeeded, self.postmasterIsRunning {
          throw EmbeddedPostgresError(
            code: .stopFailed,
            message: "pg_ctl stop failed (\(immediate.statusDescription)) for the cluster in "
              + "\(self.dataDirectory): \(immediate.output.trimmingCharacters(in: .whitespacesAndNewlines))"
          )
        }
      }
    }
    if self.directory.isTemporary {
      do {
        try self.directory.remove()
      } catch {
        throw EmbeddedPostgresError(
          code: .dataDirectoryUnusable,
          message: "Could not remove the temporary data directory \(self.dataDirectory).",
          cause: error
        )
      }
    }
    self.watchdog.terminate()
    if let replication = self.replication {
      await ServerAdministration.dropReplicationSlot(replication.slot, adminURL: replication.primaryURL)
    }
    self.progress?(.stopped)
  }

  func pgCtlStop(mode: String) async throws -> Subprocess.Outcome {
    try await self.account.command(
      self.binaries.pgCtl,
      ["stop", "-D", self.dataDirectory, "-m", mode, "-w", "-t", "60"]
    ).run()
  }

  /// Whether the postmaster named in `postmaster.pid` is alive.
  var postmasterIsRunning: Bool {
    Self.postmasterIsRunning(in: self.directory)
  }

  ///
  /// A stale file (left by a crash) whose pid now belongs to another program does not count:
  /// the process must be named `postgres`.
  static func postmasterIsRunning(in directory: DataDirectory) -> Bool {
    guard let contents = try? String(contentsOfFile: directory.pidFile, encoding: .utf8),
      let firstLine = contents.split(separator: "\n").first,
      let pid = pid_t(firstLine.trimmingCharacters(in: .whitespaces)),
      pid > 0
    else {
      return false
    }
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else {
      return true  // No /proc: trust the pid.
    }
    return name.trimmingCharacters(in: .whitespacesAndNewlines) == "postgres"
  }
}
