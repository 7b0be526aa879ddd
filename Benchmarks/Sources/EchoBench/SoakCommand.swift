import ArgumentParser
import BenchSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench soak`: memory over a long run of a client pool whose connections churn.
///
/// Starts `--servers` emporium echo servers (`--graceful`, announcing `--max-concurrent-calls`,
/// low so that bursts need several connections per server) and one `soak-client` process (see
/// ``SoakClientCommand``: bursts of calls through an `RPCClientPool` with no minimum of
/// connections and a 100 ms idle timeout, pauses in which every connection closes), for
/// `--minutes`. Every `--restart-seconds` (first at three quarters of it, so restarts fall
/// between samples) one server other than server 1 is restarted gracefully in turn: SIGTERM
/// (GOAWAY, running calls finish), wait for it to exit, start it again on the same port, so that
/// connections also churn through GOAWAY, refused connects, ejection and reconnection. Server 1
/// is never restarted: its memory is the server side of the soak.
///
/// Every `--sample-seconds` it asks the client for a sample (calls, errors, connections, VmRSS,
/// live heap bytes) and reads every server's VmRSS and server 1's live heap bytes (SIGUSR2), and
/// prints a row. At the end: a Markdown table of all samples and the growth from the first
/// sample at or after `--warm-up-seconds` to the last one. The client and the servers run with
/// libEchoBenchMallocCounter.so and ECHO_BENCH_MALLOC_BYTES, when the library is found.
struct SoakCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "soak", abstract: "Memory over a long run of a client pool whose connections churn.")

  @Option(help: "How long to run, in minutes.") var minutes: Double = 10
  @Option(help: "Server processes (at least 2: server 1 stays up, the others restart in turn).") var servers = 3
  @Option(help: "Seconds between samples.") var sampleSeconds: Double = 30
  @Option(help: "Seconds between graceful server restarts (0: none).") var restartSeconds: Double = 60
  @Option(help: "Growth is measured from the first sample at or after this many seconds.") var warmUpSeconds: Double = 60
  @Option(help: "The concurrent-call limit each server announces.") var maxConcurrentCalls = 8
  @Option(help: "The pool's idle timeout, in milliseconds.") var idleTimeoutMs = 100
  @Option(help: "The most connections the pool opens to one server.") var maxConnectionsPerEndpoint = 4
  @Option(help: "The most concurrent callers in a burst.") var maxCallers = 64
  @Option(help: "How long the server waits before each response, in milliseconds.") var responseDelayMs = 1
  @Option(help: "The pause between bursts, in milliseconds.") var pauseMs = 400
  @Option(help: "First port for the servers (one per server, counting up).") var basePort = 24_200
  @Option(help: "libEchoBenchMallocCounter.so (default: next to this executable).") var mallocCounter: String?
  @Flag(help: "Run without the allocation counter (no heap bytes).") var noMallocCounter = false
  @Option(help: "Where to write all samples as JSON.") var output = "/tmp/echo-bench-soak.json"

  /// One sample of the whole system.
  struct Row: Codable {
    var seconds: Double
    var client: SoakClientCommand.Sample
    /// VmRSS of each server, in KiB (server 1 first).
    var serverResidentKiB: [Int]
    /// Live heap bytes of server 1 (nil without the counter).
    var server1HeapBytes: Int64?
    var restarts: Int
  }

  struct Summary: Codable {
    var command: String
    var date: String
    var machine: Machine
    var minutes: Double
    var warmUpSeconds: Double
    var rows: [Row]
    /// The client's sample after it stopped and closed its pool.
    var final: SoakClientCommand.Sample?
    var restarts: [String]
  }

  func validate() throws {
    guard servers >= 2 else { throw ValidationError("--servers must be at least 2") }
    guard minutes > 0, sampleSeconds > 0, restartSeconds >= 0 else { throw ValidationError("durations must be positive") }
  }

  func run() throws {
    let executable = try RunCommand.ownExecutable()
    let counter = mallocCounter ?? (executable as NSString).deletingLastPathComponent + "/libEchoBenchMallocCounter.so"
    let preload = !noMallocCounter && FileManager.default.fileExists(atPath: counter) ? counter : nil
    let scratch = NSTemporaryDirectory() + "echo-bench-soak-\(getpid())"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    var orchestrator = Orchestrator(
      executable: executable, preload: preload, scratch: scratch, nextPort: basePort, seconds: 0, warmUp: 0)
    if preload != nil { try orchestrator.checkMallocCounter() }
    let command = CommandLine.arguments.joined(separator: " ")
    let date = ISO8601DateFormatter().string(from: Date())

    let serverArguments = [
      "--compression", "none", "--graceful", "--drain-timeout", "5", "--max-concurrent-calls", "\(maxConcurrentCalls)",
    ]
    let preloadEnvironment = orchestrator.preloadEnvironment
    func serverEnvironment(_ index: Int) -> [String: String] {
      guard preload != nil else { return [:] }
      return preloadEnvironment.merging([
        "ECHO_BENCH_MALLOC_FILE": "\(scratch)/server-\(index + 1)-mallocs", "ECHO_BENCH_MALLOC_BYTES": "1",
      ]) { a, _ in a }
    }
    var fleet = try orchestrator.startEmporiumServers(
      count: servers, arguments: serverArguments, environment: serverEnvironment)
    defer { for server in fleet { server.process.terminate() } }
    let ports = fleet.map(\.port)
    log("servers on ports \(ports.map(String.init).joined(separator: ", "))")

    var clientEnvironment = preloadEnvironment
    if preload != nil { clientEnvironment["ECHO_BENCH_MALLOC_BYTES"] = "1" }
    let client = try ChildProcess(
      name: "soak-client",
      arguments: [
        executable, "soak-client", "--ports", ports.map(String.init).joined(separator: ","), "--idle-timeout-ms",
        "\(idleTimeoutMs)", "--max-connections-per-endpoint", "\(maxConnectionsPerEndpoint)", "--max-callers",
        "\(maxCallers)", "--response-delay-ms", "\(responseDelayMs)", "--pause-ms", "\(pauseMs)",
      ], environment: clientEnvironment, stderrPath: scratch + "/soak-client.log", withInput: true)
    defer { client.terminate() }
    try client.expect("STARTED", timeout: 30)

    func clientSample() throws -> SoakClientCommand.Sample {
      client.writeLine("sample")
      guard let line = client.readLine(timeout: 30),
        let sample = try? JSONDecoder().decode(SoakClientCommand.Sample.self, from: Data(line.utf8))
      else { throw Orchestrator.Failure(description: "no sample from the client (see \(scratch)/soak-client.log)") }
      return sample
    }

    let start = monotonicNanoseconds()
    func elapsed() -> Double { Double(monotonicNanoseconds() - start) / 1e9 }
    let end = minutes * 60
    var nextSample = 0.0
    var nextRestart = restartSeconds > 0 ? restartSeconds * 0.75 : .infinity
    var rows: [Row] = []
    var restarts: [String] = []
    log(
      "soak for \(Report.format(minutes)) min: \(servers) servers (limit \(maxConcurrentCalls) calls per connection), "
        + "pool idle timeout \(idleTimeoutMs) ms, up to \(maxConnectionsPerEndpoint) connections per server")
    while nextSample <= end + 0.001 {
      let wake = min(nextSample, nextRestart)
      let now = elapsed()
      if wake > now { Thread.sleep(forTimeInterval: wake - now) }
      if nextRestart <= nextSample {
        // Restart one server other than server 1, in turn.
        let index = 1 + restarts.count % (servers - 1)
        let restartStart = elapsed()
        kill(fleet[index].process.pid, SIGTERM)
        let status = fleet[index].process.waitForExit(timeout: 20)
        if status == nil { fleet[index].process.terminate() }
        let stopped = elapsed()
        var restarted: ChildProcess?
        for attempt in 1...10 {
          do {
            restarted = try orchestrator.startServer(
              arguments: ["--impl", "emporium", "--port", "\(fleet[index].port)"] + serverArguments,
              environment: serverEnvironment(index))
            break
          } catch {
            log("server \(index + 1) did not start again (attempt \(attempt)): \(error)")
            usleep(500_000)
          }
        }
        guard let restarted else { throw Orchestrator.Failure(description: "server \(index + 1) did not start again") }
        fleet[index].process = restarted
        let note =
          "\(Report.format(restartStart)) s: server \(index + 1) (port \(fleet[index].port)) "
          + "\(status.map { "exited with status \($0)" } ?? "killed after 20 s") "
          + "\(String(format: "%.2f", stopped - restartStart)) s after SIGTERM, listening again "
          + "\(String(format: "%.2f", elapsed() - stopped)) s later"
        restarts.append(note)
        log("restart: \(note)")
        nextRestart += restartSeconds
        if nextRestart > end { nextRestart = .infinity }
        continue
      }
      let sample = try clientSample()
      let resident = fleet.map { ProcFS.residentKiB(pid: $0.process.pid) ?? 0 }
      let heap =
        preload != nil
        ? Orchestrator.mallocCounts(of: fleet[0].process.pid, file: "\(scratch)/server-1-mallocs")?.liveBytes : nil
      let row = Row(
        seconds: elapsed(), client: sample, serverResidentKiB: resident, server1HeapBytes: heap,
        restarts: restarts.count)
      rows.append(row)
      let heapText: String = sample.heapLiveBytes.map { String($0 / 1_024) } ?? "–"
      let residentText: String = resident.map(String.init).joined(separator: " / ")
      var progress = "\(Int(row.seconds)) s: \(sample.calls) calls, \(sample.errors) errors, "
      progress += "\(sample.connectionsOpened) connections opened, \(sample.connectionsOpen) open; "
      progress += "client RSS \(sample.residentKiB) KiB, heap \(heapText) KiB; server RSS \(residentText) KiB"
      log(progress)
      nextSample += sampleSeconds
    }

    client.writeLine("stop")
    var final: SoakClientCommand.Sample?
    if let line = client.readLine(timeout: 60) {
      final = try? JSONDecoder().decode(SoakClientCommand.Sample.self, from: Data(line.utf8))
    }
    client.waitForExit(timeout: 30)

    let summary = Summary(
      command: command, date: date, machine: Machine.current(), minutes: minutes, warmUpSeconds: warmUpSeconds,
      rows: rows, final: final, restarts: restarts)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(summary).write(to: URL(fileURLWithPath: output))
    print(Self.markdown(summary, servers: servers))
    log("samples written to \(output)")
  }

  // MARK: Tables

  static func markdown(_ summary: Summary, servers: Int) -> String {
    var out: [String] = []
    out.append("Command: `\(summary.command)`")
    out.append("")
    out.append(
      "\(summary.machine.line) "
        + "\(summary.date). \(Report.format(summary.minutes)) min, \(summary.restarts.count) graceful server restarts.")
    out.append("")
    let others = servers > 2 ? "servers 2–\(servers) RSS KiB" : "server 2 RSS KiB"
    out.append(
      "| time s | calls | bursts | connect attempts | connections opened | closed | open | failed calls | client RSS KiB | client heap KiB | server 1 RSS KiB | server 1 heap KiB | \(others) | restarts so far |"
    )
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    func kib(_ bytes: Int64?) -> String { bytes.map { Report.grouping(Double($0) / 1_024) } ?? "–" }
    for row in summary.rows {
      let sample = row.client
      out.append(
        "| \(Int(row.seconds.rounded())) | \(Report.grouping(Double(sample.calls))) | \(Report.grouping(Double(sample.bursts))) | "
          + "\(Report.grouping(Double(sample.connectAttempts))) | \(Report.grouping(Double(sample.connectionsOpened))) | "
          + "\(Report.grouping(Double(sample.connectionsClosed))) | \(sample.connectionsOpen) | \(sample.errors) | "
          + "\(Report.grouping(Double(sample.residentKiB))) | \(kib(sample.heapLiveBytes)) | "
          + "\(Report.grouping(Double(row.serverResidentKiB[0]))) | \(kib(row.server1HeapBytes)) | "
          + row.serverResidentKiB.dropFirst().map { Report.grouping(Double($0)) }.joined(separator: " / ")
          + " | \(row.restarts) |")
    }
    if let final = summary.final {
      out.append("")
      out.append(
        "After the client stopped and closed its pool: \(Report.grouping(Double(final.connectionsOpen))) connections "
          + "open, client RSS \(Report.grouping(Double(final.residentKiB))) KiB, heap \(kib(final.heapLiveBytes)) KiB; "
          + "\(final.calls) calls, \(final.errors) failed"
          + (final.failures.isEmpty
            ? "" : " (" + final.failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")
          + ", \(final.ejections) endpoint ejections, \(final.transparentRetries) transparent retries.")
    }
    guard let first = summary.rows.first(where: { $0.seconds >= summary.warmUpSeconds - 1 }), let last = summary.rows.last,
      last.seconds > first.seconds
    else { return out.joined(separator: "\n") }
    let after = summary.rows.filter { $0.seconds >= first.seconds }
    out.append("")
    out.append(
      "Growth from \(Int(first.seconds.rounded())) s (first sample after the warm-up) to \(Int(last.seconds.rounded())) s "
        + "(\(Report.grouping(Double(last.client.calls - first.client.calls))) calls and "
        + "\(Report.grouping(Double(last.client.connectionsOpened - first.client.connectionsOpened))) connections in between):")
    out.append("")
    out.append("| measure | first KiB | last KiB | growth KiB | growth | lowest–highest KiB after the warm-up |")
    out.append("|---|---:|---:|---:|---:|---:|")
    func line(_ name: String, _ value: (Row) -> Double?) {
      guard let a = value(first), let b = value(last) else { return }
      let values = after.compactMap(value)
      out.append(
        "| \(name) | \(Report.grouping(a)) | \(Report.grouping(b)) | \(Report.grouping(b - a)) | "
          + "\(String(format: "%+.1f%%", (b - a) / a * 100)) | "
          + "\(Report.grouping(values.min()!))–\(Report.grouping(values.max()!)) |")
    }
    line("client VmRSS") { Double($0.client.residentKiB) }
    line("client live heap") { $0.client.heapLiveBytes.map { Double($0) / 1_024 } }
    line("server 1 VmRSS") { Double($0.serverResidentKiB[0]) }
    line("server 1 live heap") { $0.server1HeapBytes.map { Double($0) / 1_024 } }
    return out.joined(separator: "\n")
  }
}
