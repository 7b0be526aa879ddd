import ArgumentParser
import RPC

extension Rpcctl {
  /// `rpcctl ping`: round trips of the protocol's PING frame, with statistics.
  struct Ping: TerminalCommand {
    static let configuration = CommandConfiguration(
      abstract: "Measure round-trip latency with PING frames.",
      discussion: """
        Connects (the time it took is printed), sends COUNT pings one after another, INTERVAL \
        apart, and prints each round trip and then min/avg/p50/p90/max. Exits 0 when every \
        ping was answered, else with the connection's status code (14, UNAVAILABLE).
        """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: [.customShort("c"), .customLong("count")], help: "How many pings to send.")
    var count = 10

    @Option(help: ArgumentHelp("The pause between pings.", valueName: "duration"))
    var interval = TimeSpan(.milliseconds(100), text: "100ms")

    @Flag(name: .shortAndLong, help: "Print only the statistics line.")
    var quiet = false

    func validate() throws {
      guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be between 1 and 1000000") }
    }

    func execute(on terminal: Terminal) async throws -> Int32 {
      try await Session.with(connection, terminal: terminal) { session in
        let compression = (try? await session.connection.compression).map { "\($0)" } ?? "unknown"
        if !quiet {
          terminal.output.write(
            "PING \(session.address): connected in \(Formatting.milliseconds(session.connectDuration)), compression \(compression)\n")
        }
        var samples: [Duration] = []
        for sequence in 1...count {
          if sequence > 1, interval.duration > .zero { try await Task.sleep(for: interval.duration) }
          let rtt = try await session.connection.ping()
          samples.append(rtt)
          if !quiet { terminal.output.write("ping \(sequence): time=\(Formatting.milliseconds(rtt))\n") }
        }
        let statistics = PingStatistics(samples)
        if !quiet { terminal.output.write("--- \(session.address): \(count) pings, \(count) answered ---\n") }
        terminal.output.write("round trip min/avg/p50/p90/max = \(statistics.line) ms\n")
        return 0
      }
    }
  }
}
