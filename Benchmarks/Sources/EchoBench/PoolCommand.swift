import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench pool`: echo through `RPCClientPool` against one and several server processes,
/// side by side with a single `RPCConnection`.
///
/// Starts the emporium echo servers once (as many as the largest `--server-counts` entry, on
/// ports from `--base-port` up) and keeps them for the whole run. For every server count N and
/// every `--concurrency`, `--rounds` rounds; in every round two fresh `client` processes, one
/// after the other: **single**, one `RPCConnection` to server 1 (the `client` of `run`), and
/// **pool**, an `RPCClientPool` (defaults) over servers 1...N. The order alternates between
/// rounds (single first in odd rounds, pool first in even ones), so that a slow patch of the
/// shared machine does not always hit the same client. The CPU of every server process is
/// sampled at the client's WINDOW_START and WINDOW_END, as `run` does. Prints the command line,
/// a Markdown table of medians over the rounds, and the ratios pool ÷ single of the two runs of
/// each round (medians over the rounds).
struct PoolCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pool", abstract: "Echo through RPCClientPool over 1 and 4 server processes vs one connection.")

  @Option(help: "Measured seconds per run.") var seconds: Double = 5
  @Option(help: "Warm-up seconds per run.") var warmUp: Double = 2
  @Option(help: "Rounds (each client once per round, alternating); tables show medians.") var rounds: Int = 3
  @Option(help: "Comma-separated numbers of server processes the pool spreads over.") var serverCounts = "1,4"
  @Option(help: "Comma-separated calls in flight.") var concurrency = "64,256"
  @Option(help: "Request payload in bytes (unary calls, compression none).") var payload = 100
  @Option(help: "First port for the servers (one per server, counting up).") var basePort = 24_100
  @Option(help: "libEchoBenchMallocCounter.so (default: next to this executable).") var mallocCounter: String?
  @Flag(help: "Run without the allocation counter.") var noMallocCounter = false
  @Option(help: "Where to write all measurements as JSON.") var output = "/tmp/echo-bench-pool.json"

  /// One client run.
  struct Run: Codable {
    var servers: Int
    var concurrency: Int
    var round: Int
    /// "single" or "pool".
    var client: String
    var report: ClientReport
    /// CPU of all server processes in the client's window.
    var serverCPUSeconds: Double

    var clientCPUMicrosPerCall: Double { report.cpuSeconds / Double(max(report.calls, 1)) * 1e6 }
    var serverCPUMicrosPerCall: Double { serverCPUSeconds / Double(max(report.calls, 1)) * 1e6 }
    var totalCPUMicrosPerCall: Double { clientCPUMicrosPerCall + serverCPUMicrosPerCall }
    var clientMallocsPerCall: Double? { report.mallocs.map { Double($0.allocations) / Double(max(report.calls, 1)) } }
  }

  struct Summary: Codable {
    var command: String
    var date: String
    var machine: Machine
    var seconds: Double
    var warmUp: Double
    var rounds: Int
    var payload: Int
    var elapsedSeconds: Double
    var runs: [Run]
  }

  private var counts: [Int] { serverCounts.split(separator: ",").compactMap { Int($0) } }
  private var concurrencies: [Int] { concurrency.split(separator: ",").compactMap { Int($0) } }

  func validate() throws {
    guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--server-counts: e.g. 1,4") }
    guard !concurrencies.isEmpty, concurrencies.allSatisfy({ $0 >= 1 }) else {
      throw ValidationError("--concurrency: e.g. 64,256")
    }
    guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
  }

  func run() throws {
    let executable = try RunCommand.ownExecutable()
    let counter = mallocCounter ?? (executable as NSString).deletingLastPathComponent + "/libEchoBenchMallocCounter.so"
    let preload = !noMallocCounter && FileManager.default.fileExists(atPath: counter) ? counter : nil
    let scratch = NSTemporaryDirectory() + "echo-bench-pool-\(getpid())"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    var orchestrator = Orchestrator(
      executable: executable, preload: preload, scratch: scratch, nextPort: basePort, seconds: seconds, warmUp: warmUp)
    if preload != nil { try orchestrator.checkMallocCounter() }

    let command = CommandLine.arguments.joined(separator: " ")
    let started = Date()
    // Servers run without the counter: only the clients' allocations are reported.
    let servers = try orchestrator.startEmporiumServers(count: counts.max()!, arguments: ["--compression", "none"])
    defer { for server in servers { server.process.terminate() } }
    log("servers on ports \(servers.map { String($0.port) }.joined(separator: ", "))")

    var runs: [Run] = []
    for count in counts {
      for inFlight in concurrencies {
        for round in 0..<rounds {
          let order = round % 2 == 0 ? ["single", "pool"] : ["pool", "single"]
          for client in order {
            var arguments = [
              "--impl", "emporium", "--concurrency", "\(inFlight)", "--payload", "\(payload)", "--seconds", "\(seconds)",
              "--warm-up", "\(warmUp)", "--mode", "unary", "--compression", "none",
            ]
            if client == "single" {
              arguments += ["--port", "\(servers[0].port)"]
            } else {
              arguments += ["--pool", "--ports", servers.prefix(count).map { String($0.port) }.joined(separator: ",")]
            }
            let label = "\(count) server(s), \(inFlight) in flight, \(client), round \(round + 1)"
            let (report, serverCPU) = try orchestrator.runClient(
              arguments, servers: servers.map(\.process), label: label)
            let run = Run(
              servers: count, concurrency: inFlight, round: round, client: client, report: report,
              serverCPUSeconds: serverCPU)
            log(
              "\(label): \(Int(report.callsPerSecond)) calls/s, p50 \(report.p50Micros) µs, p99 \(report.p99Micros) µs, "
                + "client \(Report.format(run.clientCPUMicrosPerCall)) + servers "
                + "\(Report.format(run.serverCPUMicrosPerCall)) CPU µs/call"
                + (report.poolConnections.map { ", \($0) connections" } ?? ""))
            runs.append(run)
          }
        }
      }
    }

    let results = Summary(
      command: command, date: ISO8601DateFormatter().string(from: started), machine: Machine.current(),
      seconds: seconds, warmUp: warmUp, rounds: rounds, payload: payload,
      elapsedSeconds: Date().timeIntervalSince(started), runs: runs)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(results).write(to: URL(fileURLWithPath: output))
    print(Self.markdown(results))
    log("measurements written to \(output)")
  }

  // MARK: Tables

  static func markdown(_ results: Summary) -> String {
    var out: [String] = []
    out.append("Command: `\(results.command)`")
    out.append("")
    out.append(
      "\(results.machine.line) "
        + "\(results.date). \(results.rounds) round(s), \(Report.format(results.warmUp)) s warm-up + "
        + "\(Report.format(results.seconds)) s measured per run; unary, \(results.payload) B, compression none; "
        + "took \(Int(results.elapsedSeconds / 60)) min.")
    out.append("")
    out.append(
      "| servers | in flight | client | runs | calls/s | range | p50 µs | p99 µs | p99.9 µs | client CPU µs/call | servers CPU µs/call | client mallocs/call | connections |"
    )
    out.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (servers, inFlight) in keys(results.runs) {
      for client in ["single", "pool"] {
        let group = results.runs.filter { $0.servers == servers && $0.concurrency == inFlight && $0.client == client }
        guard !group.isEmpty else { continue }
        let rates = group.map(\.report.callsPerSecond)
        let errors = group.reduce(0) { $0 + $1.report.errors }
        let mallocs = group.compactMap(\.clientMallocsPerCall)
        let connections = group.compactMap(\.report.poolConnections)
        let name = client == "single" ? "one connection (server 1)" : "pool (servers 1–\(servers))"
        out.append(
          "| \(servers) | \(inFlight) | \(name)\(errors > 0 ? " (\(errors) errors)" : "") | \(group.count) | "
            + "\(Report.grouping(Report.median(rates))) | "
            + "\(Report.grouping(rates.min()!))–\(Report.grouping(rates.max()!)) | "
            + "\(Report.grouping(Report.median(group.map { Double($0.report.p50Micros) }))) | "
            + "\(Report.grouping(Report.median(group.map { Double($0.report.p99Micros) }))) | "
            + "\(Report.grouping(Report.median(group.map { Double($0.report.p999Micros) }))) | "
            + "\(Report.format(Report.median(group.map(\.clientCPUMicrosPerCall)))) | "
            + "\(Report.format(Report.median(group.map(\.serverCPUMicrosPerCall)))) | "
            + "\(mallocs.isEmpty ? "–" : Report.format(Report.median(mallocs))) | "
            + "\(connections.isEmpty ? "1" : String(format: "%g", Report.median(connections.map(Double.init)))) |")
      }
    }
    out.append("")
    out.append("Pool ÷ single, from the two runs of each round (median over rounds, range in brackets):")
    out.append("")
    out.append("| servers | in flight | calls/s | p50 | p99 | client CPU/call | total CPU/call (client + servers) |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for (servers, inFlight) in keys(results.runs) {
      let pairs: [(Run, Run)] = (0..<results.rounds).compactMap { round in
        let runs = results.runs.filter { $0.servers == servers && $0.concurrency == inFlight && $0.round == round }
        guard let single = runs.first(where: { $0.client == "single" }), let pool = runs.first(where: { $0.client == "pool" })
        else { return nil }
        return (single, pool)
      }
      guard !pairs.isEmpty else { continue }
      func ratio(_ value: (Run) -> Double) -> String {
        let ratios = pairs.map { value($0.1) / value($0.0) }
        return "\(times(Report.median(ratios))) (\(times(ratios.min()!))–\(times(ratios.max()!)))"
      }
      out.append(
        "| \(servers) | \(inFlight) | \(ratio { $0.report.callsPerSecond }) | \(ratio { Double($0.report.p50Micros) }) | "
          + "\(ratio { Double($0.report.p99Micros) }) | \(ratio(\.clientCPUMicrosPerCall)) | "
          + "\(ratio(\.totalCPUMicrosPerCall)) |")
    }
    return out.joined(separator: "\n")
  }

  private static func keys(_ runs: [Run]) -> [(Int, Int)] {
    var keys: [(Int, Int)] = []
    for run in runs where !keys.contains(where: { $0 == (run.servers, run.concurrency) }) {
      keys.append((run.servers, run.concurrency))
    }
    return keys
  }

  /// A ratio with two decimals: 0.93×.
  static func times(_ value: Double) -> String {
    value.isFinite ? String(format: "%.2f×", value) : "–"
  }
}
