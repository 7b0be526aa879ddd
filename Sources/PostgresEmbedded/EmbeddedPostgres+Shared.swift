import Synchronization

/// The cluster ``EmbeddedPostgres/shared()`` hands out: its start, in progress or done.
private let sharedCluster = Mutex<Task<EmbeddedPostgres, any Error>?>(nil)

extension EmbeddedPostgres {
  /// The shared cluster's `max_connections`.
  public static let sharedMaximumConnections = 400

  /// The one cluster for this process, started on first use with the default ``Configuration``
  /// and room for 400 connections (``sharedMaximumConnections``): every suite of a test run
  /// takes its databases and pools from it at once.
  ///
  /// Concurrent first callers wait for the same start. The cluster is temporary and owned by this
  /// process: nobody needs to stop it, because the watchdog stops it and removes its directory
  /// within about a second of the process exiting (however it exits). Test suites take fresh
  /// databases from it with ``createDatabase(_:ifExists:)``, or better through ``TestCluster``,
  /// which also honours `EMPORIUM_TEST_DATABASE_URL`.
  ///
  /// If the start fails, the error goes to every caller waiting for it and the next call tries
  /// again; if someone stopped the shared cluster, the next call starts a new one. Cancelling a
  /// caller does not cancel the start, which other callers may be waiting for.
  ///
  /// - Throws: What ``start(_:)`` throws.
  public static func shared() async throws -> EmbeddedPostgres {
    while true {
      let task = sharedCluster.withLock { shared in
        if let task = shared {
          return task
        }
        let task = Task {
          var configuration = Configuration()
          configuration.serverSettings["max_connections"] = String(sharedMaximumConnections)
          return try await EmbeddedPostgres.start(configuration)
        }
        shared = task
        return task
      }
      let cluster: EmbeddedPostgres
      do {
        cluster = try await task.value
      } catch {
        sharedCluster.withLock { shared in
          if shared == task {
            shared = nil
          }
        }
        throw error
      }
      if !cluster.isStopped {
        return cluster
      }
      sharedCluster.withLock { shared in
        if shared == task {
          shared = nil
        }
      }
    }
  }
}
