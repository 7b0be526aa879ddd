import Foundation
import PostgresEmbedded
import Testing

@Suite("EmbeddedPostgres")
struct EmbeddedPostgresTests {
  @Test("a temporary cluster runs PostgreSQL 15 on loopback and is gone after stop")
  func temporaryClusterLifecycle() async throws {
    let progress = ProgressRecorder()
    let postgres = try await EmbeddedPostgres.start(.init(progress: progress.callback))

    #expect(postgres.isTemporary)
    #expect(postgres.url() == "postgresql://emporium@127.0.0.1:\(postgres.port)/postgres")
    let version = try await SQLClient.value(postgres.url(), "SELECT version()")
    #expect(version?.hasPrefix("PostgreSQL 15.") == true, "version() said \(version ?? "NULL")")
    #expect(try await SQLClient.value(postgres.url(), "SELECT current_user") == "emporium")
    #expect(try await SQLClient.value(postgres.url(), "SHOW listen_addresses") == "127.0.0.1")
    #expect(try await SQLClient.value(postgres.url(), "SHOW max_connections") == "200")
    // A throwaway cluster trades durability for speed.
    #expect(try await SQLClient.value(postgres.url(), "SHOW fsync") == "off")
    #expect(FileManager.default.fileExists(atPath: postgres.dataDirectory + "/PG_VERSION"))

    try await postgres.stop()

    #expect(!FileManager.default.fileExists(atPath: postgres.dataDirectory))
    #expect(await SQLClient.ping(postgres.url()) == .noResponse)
    // Stopping again is harmless, and a stopped cluster says so.
    try await postgres.stop()
    let late = await #expect(throws: EmbeddedPostgresError.self) {
      try await postgres.createDatabase("late")
    }
    #expect(late?.code == .stopped)
    #expect(
      progress.events == [
        .initializingCluster(dataDirectory: postgres.dataDirectory),
        .starting(port: postgres.port),
        .ready(port: postgres.port),
        .stopping,
        .stopped,
      ]
    )
  }

  @Test("a named data directory survives stop and start with its data")
  func namedDataDirectoryIsReused() async throws {
    let base = FileManager.default.temporaryDirectory
      .appendingPathComponent("emporium-pgtests-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: base) }
    // Missing parents are created too.
    let dataDirectory = base + "/nested/cluster"

    let first = try await EmbeddedPostgres.start(.init(dataDirectory: dataDirectory))
    #expect(!first.isTemporary)
    #expect(first.dataDirectory == dataDirectory)
    // Data meant to be kept is written durably.
    #expect(try await SQLClient.value(first.url(), "SHOW fsync") == "on")
    let shop = try await first.createDatabase("shop")
    try await SQLClient.value(shop, "CREATE TABLE items (name text)")
    try await SQLClient.value(shop, "INSERT INTO items VALUES ('kept across restarts')")

    // A second launcher must not take over (or, failing, stop) the running server.
    let intruder = await #expect(throws: EmbeddedPostgresError.self) {
      try await EmbeddedPostgres.start(.init(dataDirectory: dataDirectory))
    }
    #expect(intruder?.code == .startFailed)
    #expect(await SQLClient.ping(first.url()) == .accepting)

    try await first.stop()

    #expect(FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION"))
    #expect(await SQLClient.ping(first.url()) == .noResponse)

    let progress = ProgressRecorder()
    let second = try await EmbeddedPostgres.start(
      .init(dataDirectory: dataDirectory, progress: progress.callback)
    )
    #expect(progress.events.first == .reusingCluster(dataDirectory: dataDirectory))
    let reopened = try await second.createDatabase("shop", ifExists: .reuse)
    #expect(reopened == second.url(database: "shop"))
    #expect(try await SQLClient.value(reopened, "SELECT name FROM items") == "kept across restarts")
    try await second.stop()
    #expect(FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION"))
  }

  @Test("createDatabase quotes any name safely and refuses an existing one unless asked")
  func createDatabaseNames() async throws {
    let postgres = try await EmbeddedPostgres.shared()
    let name = #"Emporium "Tricky" name; DROP DATABASE postgres"#
    let url = try await postgres.createDatabase(name)
    #expect(try await SQLClient.value(url, "SELECT current_database()") == name)
    #expect(
      try await SQLClient.value(
        postgres.url(), "SELECT count(*) FROM pg_database WHERE datname = 'postgres'") == "1")

    try await SQLClient.value(url, "CREATE TABLE marker (id int)")
    let duplicate = await #expect(throws: EmbeddedPostgresError.self) {
      try await postgres.createDatabase(name)
    }
    #expect(duplicate?.code == .sqlFailed)
    #expect(duplicate?.message.contains("already exists") == true)

    _ = try await postgres.createDatabase(name, ifExists: .reuse)
    #expect(try await SQLClient.value(url, "SELECT to_regclass('marker') IS NOT NULL") == "t")
    _ = try await postgres.createDatabase(name, ifExists: .replace)
    #expect(try await SQLClient.value(url, "SELECT to_regclass('marker') IS NULL") == "t")

    let tooLong = await #expect(throws: EmbeddedPostgresError.self) {
      try await postgres.createDatabase(String(repeating: "x", count: 64))
    }
    #expect(tooLong?.code == .invalidArgument)
  }

  @Test("cancelling a start while pg_ctl starts the server leaves no server and no directory")
  func cancelledStart() async throws {
    let progress = ProgressRecorder()
    let outcome = await Task {
      try await EmbeddedPostgres.start(
        .init(progress: { event in
          progress.callback(event)
          if case .starting = event {
            // Called on the starting task, just before pg_ctl start runs: cancel that task.
            withUnsafeCurrentTask { $0?.cancel() }
          }
        })
      )
    }.result

    #expect(throws: CancellationError.self) { try outcome.get() }
    guard case .initializingCluster(let dataDirectory) = progress.events.first,
      case .starting(let port) = progress.events.last
    else {
      Issue.record("unexpected progress: \(progress.events)")
      return
    }
    #expect(!FileManager.default.fileExists(atPath: dataDirectory))
    #expect(await SQLClient.ping("postgresql://emporium@127.0.0.1:\(port)/postgres") == .noResponse)
  }

  @Test("a port that is taken fails the start with the server log, leaving nothing behind")
  func explicitPortTaken() async throws {
    let listener = try TakenPort()
    defer { listener.close() }

    let error = await #expect(throws: EmbeddedPostgresError.self) {
      try await EmbeddedPostgres.start(.init(port: listener.port))
    }
    #expect(error?.code == .startFailed)
    #expect(error?.message.contains("port \(listener.port)") == true)
    #expect(
      error?.message.contains("Address already in use") == true, "message: \(error?.message ?? "")")

    // The temporary directory the failed start made is gone again.
    let leftovers = try FileManager.default.contentsOfDirectory(
      atPath: FileManager.default.temporaryDirectory.path
    ).filter { name in
      name.hasPrefix("emporium-pg-") && error?.message.contains(name) == true
    }
    #expect(leftovers.isEmpty)
    #expect(error?.message.contains("emporium-pg-") == true)
  }
}
