import Foundation

extension EmbeddedPostgres {
  /// Launches a cluster and returns once it accepts connections.
  ///
  /// Steps: find the programs; create or check the data directory; start the watchdog; run
  /// `initdb` if the directory holds no cluster (`--no-sync` for a temporary one); start the
  /// server with `pg_ctl start -w -t <startTimeout>`, trying a new port (up to five times) if an
  /// automatically chosen one was taken meanwhile; confirm readiness with `PQping`. Each step is
  /// reported to ``Configuration/progress``.
  ///
  /// Cancelling the calling task interrupts `initdb` (`SIGTERM`), or lets a `pg_ctl start` that
  /// has begun finish (at most ``Configuration/startTimeout``; usually a fraction of a second)
  /// and then stops that server; either way it removes a temporary data directory and throws
  /// `CancellationError`. Any other failure cleans up the same way before throwing.
  ///
  /// - Parameter configuration: How to launch; the default is a temporary cluster on a free port.
  /// - Returns: The running cluster. The caller owns it and should call ``stop()``.
  /// - Throws: ``EmbeddedPostgresError``, or `CancellationError`.
  public static func start(_ configuration: Configuration = .init()) async throws
    -> EmbeddedPostgres
  {
    try configuration.validate()
    let binaries = try PostgresBinaries.locate(configured: configuration.binDirectory)
    let account = try ServerAccount.forCurrentProcess()
    let directory =
      if let path = configuration.dataDirectory {
        try DataDirectory.prepare(path, for: account)
      } else {
        try DataDirectory.makeTemporary(for: account)
      }

    // Never adopt a server someone else runs in a named directory: the cleanup below and the
    // watchdog would stop it.
    if !directory.isTemporary, Self.postmasterIsRunning(in: directory) {
      throw EmbeddedPostgresError(
        code: .startFailed,
        message: "A server is already running in \(directory.path) (see its postmaster.pid); "
          + "stop it first, or use another data directory."
      )
    }

    let watchdog: Watchdog
    do {
      watchdog = try Watchdog.spawn(
        owner: configuration.ownerProcessID ?? getpid(),
        binaries: binaries,
        dataDirectory: directory,
        account: account
      )
    } catch {
      if directory.isTemporary {
        try? directory.remove()
      }
      throw error
    }

    do {
      try Task.checkCancellation()
      if directory.holdsCluster {
        configuration.progress?(.reusingCluster(dataDirectory: directory.path))
      } else {
        configuration.progress?(.initializingCluster(dataDirectory: directory.path))
        try await Self.initialize(
          directory, configuration: configuration, binaries: binaries, account: account)
      }
      let port = try await Self.launch(
        directory, configuration: configuration, binaries: binaries, account: account)
      configuration.progress?(.ready(port: port))
      return EmbeddedPostgres(
        port: port,
        superuser: configuration.superuser,
        binaries: binaries,
        account: account,
        directory: directory,
        watchdog: watchdog,
        serverSettings: try configuration.effectiveServerSettings(
          port: port, durable: !directory.isTemporary),
        progress: configuration.progress
      )
    } catch {
      // An unstructured task: the cleanup must run even though this task may be cancelled.
      await Task {
        await Self.cleanUpFailedStart(
          directory, binaries: binaries, account: account, watchdog: watchdog)
      }.value
      throw error
    }
  }

  /// Runs `initdb` and restricts `pg_hba.conf` to trusted loopback TCP.
  private static func initialize(
    _ directory: DataDirectory,
    configuration: Configuration,
    binaries: PostgresBinaries,
    account: ServerAccount
  ) async throws {
    var arguments = [
      "-D", directory.path,
      "-U", configuration.superuser,
      "--auth=trust",
      "--encoding=UTF8",
      "--locale=\(configuration.locale)",
    ]
    if directory.isTemporary {
      // Nothing is worth an fsync in a cluster that is deleted on stop.
      arguments.append("--no-sync")
    }
    let outcome = try await account.command(binaries.initdb, arguments).run()
    guard outcome.succeeded else {
      var message =
        "initdb failed (\(outcome.statusDescription)) for \(directory.path): "
        + Self.tail(outcome.output)
      if !account.commandPrefix.isEmpty {
        message +=
          "\n(Running as root, so initdb ran as the user `\(ServerAccount.systemUser)`, which "
          + "needs permission to enter every parent directory of the data directory.)"
      }
      throw EmbeddedPostgresError(code: .initdbFailed, message: message)
    }

    let hba = """
      # Written by Emporium's EmbeddedPostgres: trust, on loopback TCP only. The server listens
      # on 127.0.0.1 only and has no Unix socket.
      host    all             all             127.0.0.1/32            trust
      host    replication     all             127.0.0.1/32            trust

      """
    let hbaFile = directory.path + "/pg_hba.conf"
    do {
      try hba.write(toFile: hbaFile, atomically: false, encoding: .utf8)
      try account.takeOwnership(of: hbaFile)
    } catch {
      throw EmbeddedPostgresError(
        code: .initdbFailed,
        message: "Could not write \(hbaFile).",
        cause: error
      )
    }
  }

  /// Starts the server and waits until it accepts connections; returns its port.
  static func launch(
    _ directory: DataDirectory,
    configuration: Configuration,
    binaries: PostgresBinaries,
    account: ServerAccount
  ) async throws -> Int {
    let timeout = configuration.startTimeout.components
    let timeoutSeconds = max(1, Int(timeout.seconds) + (timeout.attoseconds > 0 ? 1 : 0))
    let maximumAttempts = configuration.port == nil ? 5 : 1

    for attempt in 1...maximumAttempts {
      let port = try configuration.port ?? LoopbackPort.free()
      let settings = try configuration.effectiveServerSettings(
        port: port, durable: !directory.isTemporary)
      let options = settings.sorted { $0.key < $1.key }
        .flatMap { ["-c", "\($0.key)=\($0.value)"] }
        .map(Self.shellQuoted)
        .joined(separator: " ")
      let logOffset = directory.logSize

      // The last point to give up without a server to stop: pg_ctl start runs to its end.
      try Task.checkCancellation()
      configuration.progress?(.starting(port: port))
      let outcome = try await account.command(
        binaries.pgCtl,
        [
          "start", "-D", directory.path, "-w", "-t", String(timeoutSeconds),
          "-l", directory.logFile, "-o", options,
        ]
      ).run(interruptible: false)

      guard outcome.succeeded else {
        let log = directory.logTail(from: logOffset)
        if attempt < maximumAttempts, log.contains("Address already in use") {
          configuration.progress?(.portTaken(port: port))
          continue
        }
        let timedOut = outcome.output.contains("did not start in time")
        throw EmbeddedPostgresError(
          code: timedOut ? .timedOut : .startFailed,
          message: (timedOut
            ? "The server in \(directory.path) did not start on port \(port) within \(timeoutSeconds) s."
            : "pg_ctl start failed (\(outcome.statusDescription)) for \(directory.path) on port \(port).")
            + "\npg_ctl: " + Self.tail(outcome.output)
            + "\nserver log (\(directory.logFile)):\n" + (log.isEmpty ? "(empty)" : log)
        )
      }

      try await Self.awaitAcceptingConnections(
        PostgresURL.make(
          user: configuration.superuser, host: "127.0.0.1", port: port, database: "postgres"),
        directory: directory,
        logOffset: logOffset,
        within: configuration.startTimeout
      )
      return port
    }
    preconditionFailure("the last attempt either returns or throws")
  }

  /// Pings until the server accepts connections. `pg_ctl start -w` has already waited for the
  /// postmaster to report ready, so this normally succeeds at once.
  private static func awaitAcceptingConnections(
    _ url: String,
    directory: DataDirectory,
    logOffset: UInt64,
    within timeout: Duration
  ) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    var last = ServerAdministration.Ping.noResponse
    while clock.now < deadline {
      last = await ServerAdministration.ping(url)
      if last == .accepting {
        return
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    throw EmbeddedPostgresError(
      code: .timedOut,
      message: "The server in \(directory.path) was started but did not accept connections "
        + "(PQping: \(last)).\nserver log (\(directory.logFile)):\n"
        + directory.logTail(from: logOffset)
    )
  }

  /// Undoes a start that failed or was cancelled: stops a server that may be running, removes a
  /// temporary directory, retires the watchdog. Best effort; never throws.
  static func cleanUpFailedStart(
    _ directory: DataDirectory,
    binaries: PostgresBinaries,
    account: ServerAccount,
    watchdog: Watchdog
  ) async {
    if Self.postmasterIsRunning(in: directory) {
      _ = try? await account.command(
        binaries.pgCtl,
        ["stop", "-D", directory.path, "-m", "immediate", "-w", "-t", "30"]
      ).run()
    }
    guard !Self.postmasterIsRunning(in: directory) else {
      // Still running: leave the directory and the watchdog, which retries when the owner exits.
      return
    }
    if directory.isTemporary {
      try? directory.remove()
    }
    watchdog.terminate()
  }

  /// `text` as one `/bin/sh` word: pg_ctl runs the server through the shell, `-o` included.
  static func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
  }

  /// The last lines of a program's output, for error messages.
  static func tail(_ output: String, lines: Int = 20) -> String {
    output.split(separator: "\n", omittingEmptySubsequences: true)
      .suffix(lines)
      .joined(separator: "\n")
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
