import ArgumentParser
import Foundation
import Logging
import PostgresEmbedded
import UnixSignals

/// `emporium postgres`: the embedded PostgreSQL cluster on its own, for a topology of several
/// processes that share one database (scripts/topology.sh).
struct PostgresCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "postgres",
    abstract: "Run the embedded PostgreSQL cluster until SIGTERM or SIGINT; print its database URL.",
    discussion: """
      Starts the cluster in --data-dir (created on first use; kept), creates the database \
      `emporium` unless it exists, prints its URL on standard output (and into --url-file), \
      and stops the cluster on SIGTERM or SIGINT. Processes started with --database-url share it.
      """
  )

  @Option(help: "The cluster's data directory (created on first use).")
  var dataDir: String

  @Option(help: "TCP port on 127.0.0.1 (default: a free one).")
  var port: Int?

  @Option(help: "Also write the database URL into this file, once the database is ready.")
  var urlFile: String?

  func validate() throws {
    if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1...65535") }
  }

  mutating func run() async throws {
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    let logger = Logger(label: "emporium-postgres")
    var configuration = EmbeddedPostgres.Configuration()
    configuration.dataDirectory = dataDir
    configuration.port = port
    configuration.progress = { progress in logger.info("embedded postgres", metadata: ["step": "\(progress)"]) }
    // Trapped before the cluster starts, so a signal during start-up still stops it.
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    let cluster = try await EmbeddedPostgres.start(configuration)
    do {
      let url = try await cluster.createDatabase("emporium", ifExists: .reuse)
      if let urlFile {
        try Data((url + "\n").utf8).write(to: URL(fileURLWithPath: urlFile), options: .atomic)
      }
      FileHandle.standardOutput.write(Data((url + "\n").utf8))
      for await signal in signals {
        logger.info("stopping the cluster", metadata: ["signal": "\(signal)"])
        break
      }
    } catch {
      try? await cluster.stop()
      throw error
    }
    try await cluster.stop()
  }
}
