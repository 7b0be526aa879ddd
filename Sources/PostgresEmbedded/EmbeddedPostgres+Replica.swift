import Foundation

extension EmbeddedPostgres {
  /// How to launch a streaming replica (``startReplica(_:)``). Every property has a default.
  public struct ReplicaConfiguration: Sendable {
    /// The replica's TCP port on 127.0.0.1; nil (the default) picks a free one.
    public var port: Int?

    /// The physical replication slot to create on the primary: 1–63 lower-case letters, digits
    /// and underscores. nil (the default) makes a new name, `emporium_replica_<random>`.
    public var slotName: String?

    /// Extra settings for the replica, over the primary's own (which a hot standby needs: its
    /// `max_connections` may not be lower than the primary's). `port` and `listen_addresses`
    /// cannot be set here.
    public var serverSettings: [String: String]

    /// How long `pg_ctl start` may wait for the replica to accept connections, and then how long
    /// the replica may take to start streaming. Default 60 seconds each.
    public var startTimeout: Duration

    /// The process whose exit stops the replica, as ``Configuration/ownerProcessID``.
    public var ownerProcessID: Int32?

    /// Called with each step of starting and stopping the replica.
    public var progress: (@Sendable (Progress) -> Void)?

    /// Creates a configuration; every parameter has the default described on its property.
    public init(
      port: Int? = nil,
      slotName: String? = nil,
      serverSettings: [String: String] = [:],
      startTimeout: Duration = .seconds(60),
      ownerProcessID: Int32? = nil,
      progress: (@Sendable (Progress) -> Void)? = nil
    ) {
      self.port = port
      self.slotName = slotName
      self.serverSettings = serverSettings
      self.startTimeout = startTimeout
      self.ownerProcessID = ownerProcessID
      self.progress = progress
    }
  }

  /// Starts a hot standby that streams this cluster's WAL, and returns once it is streaming.
  ///
  /// Steps: create a physical replication slot on this cluster (the primary); copy the primary
  /// into a new temporary data directory with `pg_basebackup -R -S <slot> -X stream`
  /// (as the `postgres` user when this process is root, like `initdb`); start the copy with
  /// `hot_standby=on` on its own loopback port; wait until its WAL receiver reports `streaming`.
  /// The primary needs nothing extra: the launcher's `pg_hba.conf` trusts replication
  /// connections on loopback, and PostgreSQL's defaults (`wal_level=replica`,
  /// `max_wal_senders=10`, `max_replication_slots=10`) allow replicas.
  ///
  /// The replica is read-only (every transaction in a hot standby is), serves every database of
  /// the primary (``url(database:)`` works on it once the database's creation has replayed), and
  /// its data directory is always temporary.
  ///
  /// Ownership: the caller owns the replica and stops it with ``stop()``, **before** the primary:
  /// that stop drops the slot on the primary. A slot outlives a replica that was never stopped
  /// (its owner died, or the primary was stopped first) and keeps the primary's WAL from being
  /// recycled: a temporary primary takes it along when it is removed; on a primary in a named data
  /// directory, drop it by hand (`SELECT pg_drop_replication_slot('<slot>')`, the name is
  /// ``replicationSlot``). The watchdog stops the replica and removes its directory when the owner
  /// process exits, as for any cluster.
  ///
  /// Cancelling the caller interrupts `pg_basebackup`, or lets a `pg_ctl start` that has begun
  /// finish and then stops the replica; either way the directory and the slot are removed and
  /// `CancellationError` is thrown. Any other failure cleans up the same way.
  ///
  /// - Parameter configuration: How to launch the replica.
  /// - Returns: The running replica; ``replicationSlot`` names its slot.
  /// - Throws: ``EmbeddedPostgresError`` (``EmbeddedPostgresError/Code/stopped`` when this
  ///   cluster was stopped, ``EmbeddedPostgresError/Code/baseBackupFailed``,
  ///   ``EmbeddedPostgresError/Code/startFailed``, ``EmbeddedPostgresError/Code/timedOut``, ...),
  ///   or `CancellationError`.
  public func startReplica(_ configuration: ReplicaConfiguration = .init()) async throws -> EmbeddedPostgres {
    guard !self.isStopped else {
      throw EmbeddedPostgresError(
        code: .stopped, message: "Cannot start a replica: the cluster on port \(self.port) was stopped.")
    }
    if let replication = self.replication {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message: "The cluster on port \(self.port) is itself a replica (slot \(replication.slot)); "
          + "start replicas of its primary.")
    }
    let random = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    let slot = configuration.slotName ?? "emporium_replica_" + String(random.prefix(16))
    guard ServerAdministration.isReplicationSlotName(slot) else {
      throw EmbeddedPostgresError(
        code: .invalidArgument,
        message: "The replication slot name \(slot) must be 1 to 63 lower-case letters, digits and underscores.")
    }
    guard FileManager.default.isExecutableFile(atPath: self.binaries.pgBasebackup) else {
      throw EmbeddedPostgresError(
        code: .binariesNotFound,
        message: "pg_basebackup was not found in \(self.binDirectory); it comes with the server programs.")
    }

    var settings = self.serverSettings
    settings["port"] = nil
    settings["listen_addresses"] = nil
    settings["hot_standby"] = "on"
    for (name, value) in configuration.serverSettings { settings[name.lowercased()] = value }
    let launch = Configuration(
      binDirectory: self.binDirectory, port: configuration.port, superuser: self.superuser, serverSettings: settings,
      startTimeout: configuration.startTimeout, ownerProcessID: configuration.ownerProcessID,
      progress: configuration.progress)
    try launch.validate()

    let directory = try DataDirectory.makeTemporary(for: self.account)
    let watchdog: Watchdog
    do {
      watchdog = try Watchdog.spawn(
        owner: configuration.ownerProcessID ?? getpid(), binaries: self.binaries, dataDirectory: directory,
        account: self.account)
    } catch {
      try? directory.remove()
      throw error
    }

    var slotCreated = false
    do {
      try Task.checkCancellation()
      try await ServerAdministration.createReplicationSlot(slot, adminURL: self.url())
      slotCreated = true
      configuration.progress?(.copyingBaseBackup(dataDirectory: directory.path))
      try await self.copyBaseBackup(into: directory, slot: slot)
      let port = try await Self.launch(directory, configuration: launch, binaries: self.binaries, account: self.account)
      let replicaURL = PostgresURL.make(user: self.superuser, host: "127.0.0.1", port: port, database: "postgres")
      try await Self.awaitStreaming(replicaURL, directory: directory, within: configuration.startTimeout)
      configuration.progress?(.ready(port: port))
      return EmbeddedPostgres(
        port: port,
        superuser: self.superuser,
        binaries: self.binaries,
        account: self.account,
        directory: directory,
        watchdog: watchdog,
        serverSettings: try launch.effectiveServerSettings(port: port, durable: false),
        replication: ReplicationLink(primaryURL: self.url(), slot: slot),
        progress: configuration.progress
      )
    } catch {
      let primaryURL = self.url()
      let (binaries, account) = (self.binaries, self.account)
      // An unstructured task: the cleanup must run even though this task may be cancelled.
      await Task { [slotCreated] in
        await EmbeddedPostgres.cleanUpFailedStart(directory, binaries: binaries, account: account, watchdog: watchdog)
        if slotCreated {
          await ServerAdministration.dropReplicationSlot(slot, adminURL: primaryURL)
        }
      }.value
      throw error
    }
  }

  /// Runs `pg_basebackup` from this cluster into `directory`: WAL streamed alongside (`-X
  /// stream`) through `slot`, a fast checkpoint, and `-R` (which writes `standby.signal` and
  /// `primary_conninfo` with the slot's name into `postgresql.auto.conf`).
  private func copyBaseBackup(into directory: DataDirectory, slot: String) async throws {
    var arguments = [
      "-h", "127.0.0.1", "-p", String(self.port), "-U", self.superuser,
      "-D", directory.path, "-R", "-S", slot, "-X", "stream", "--checkpoint=fast",
    ]
    if directory.isTemporary {
      arguments.append("--no-sync")
    }
    let outcome = try await self.account.command(self.binaries.pgBasebackup, arguments).run()
    guard outcome.succeeded else {
      throw EmbeddedPostgresError(
        code: .baseBackupFailed,
        message: "pg_basebackup failed (\(outcome.statusDescription)) copying the cluster on port \(self.port) "
          + "into \(directory.path): " + Self.tail(outcome.output)
      )
    }
    // The copy brought the primary's server log along; the replica writes its own.
    try? FileManager.default.removeItem(atPath: directory.logFile)
  }

  /// Waits until the standby's WAL receiver is streaming from the primary.
  private static func awaitStreaming(_ url: String, directory: DataDirectory, within timeout: Duration) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    var status: String?
    while clock.now < deadline {
      status = try? await ServerAdministration.value(url, "SELECT status FROM pg_stat_wal_receiver")
      if status == "streaming" {
        return
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    throw EmbeddedPostgresError(
      code: .timedOut,
      message: "The replica in \(directory.path) did not start streaming from its primary "
        + "(WAL receiver status: \(status ?? "none")).\nserver log (\(directory.logFile)):\n"
        + directory.logTail()
    )
  }
}

/// Where a replica's replication slot lives: the primary's admin URL and the slot's name.
struct ReplicationLink: Sendable, Hashable {
  var primaryURL: String
  var slot: String
}
