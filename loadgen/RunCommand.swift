import ArgumentParser
import Foundation
import LoadCore
import RPC

#if canImport(Glibc)
import Glibc
#endif

/// `loadgen run`: one measured run of one scenario under one load model.
struct RunCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run a scenario against a target under a closed (--users) or open (--rate) load model.",
    discussion: """
      Closed model: --users N virtual users, each starting its next journey when the last \
      finished (plus --think-time). Open model: --rate R journeys per second (ramping to \
      --ramp-to over the measured window), --arrivals poisson or uniform, at most \
      --max-in-flight at once. Latency is measured from the intended send time (corrected for \
      coordinated omission) and, beside it, from the actual send. See docs/LOADGEN.md.
      """)

  @OptionGroup var scenarioOptions: ScenarioOptions

  @Option(help: "Closed model: this many virtual users.") var users: Int?
  @Option(help: "Closed model: pause between a user's journeys (e.g. 100ms).") var thinkTime: String?
  @Option(help: "Open model: journeys per second.") var rate: Double?
  @Option(help: "Open model: ramp linearly to this rate over the measured window.") var rampTo: Double?
  @OptionGroup var openModel: OpenModelOptions

  @Option(help: "Measured time (e.g. 30s, 2m).") var duration = "30s"
  @Option(help: "Warm-up before measuring (recorded in the time series only).") var warmup = "5s"

  @OptionGroup var output: ReportOptions
  @Option(help: "Run shard I of N of the load (e.g. 2/4): 1/N of the users or rate, own customers.") var shard: String?
  @Option(help: "Write the report as one self-contained HTML page.") var html: String?
  @Option(help: "Write the per-operation summary as CSV.") var csv: String?
  @Option(help: "Write HdrHistogram interval logs (one tag per operation).") var histogramLog: String?
  @Flag(help: "checkout, hot-product: skip the business invariant check after the run.") var noInvariants = false
  @Option(help: "How long the invariant check waits for the run's orders to settle.") var settleTimeout = "60s"

  func validate() throws {
    guard (users == nil) != (rate == nil) else { throw ValidationError("give exactly one of --users (closed) or --rate (open)") }
    if let users, users < 1 { throw ValidationError("--users must be at least 1") }
    if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
    if rampTo != nil && rate == nil { throw ValidationError("--ramp-to needs --rate") }
    if thinkTime != nil && users == nil { throw ValidationError("--think-time needs --users") }
  }

  func run() async throws {
    let model: LoadModel
    if let users {
      model = .closed(users: users, thinkTime: try thinkTime.map { try DurationText.parse($0) })
    } else {
      model = .open(try openModel.model(rate: rate!, rampTo: rampTo))
    }
    let sharding = try RunSharding(shard)
    let configuration = LoadRunConfiguration(
      model: try sharding.model(model), warmup: try DurationText.parse(warmup),
      duration: try DurationText.parse(duration))
    let scenario = scenarioOptions.scenario, target = scenarioOptions.target
    let log: @Sendable (String) -> Void = { line in Self.printError("loadgen: " + line) }
    let prepared = try await PreparedScenario.prepare(scenarioOptions, sharding: sharding, log: log)
    let invariants: InvariantGuard?
    do {
      invariants =
        noInvariants
        ? nil
        : try await InvariantGuard.forRun(
          of: prepared.scenario, clients: prepared.clients, manifest: prepared.manifest, ledger: prepared.settings.ledger,
          callTimeout: prepared.settings.callTimeout, log: log)
    } catch {
      await prepared.close()
      throw error
    }

    let startTime = Date()
    let writer = try histogramLog.map { path in
      try IntervalLogWriter(path: path, startTime: startTime, comment: "loadgen \(scenario) -> \(target)")
    }
    let progress = ProgressLine(
      enabled: !output.quiet && isatty(STDERR_FILENO) != 0,
      total: configuration.warmup.loadSeconds + configuration.duration.loadSeconds)
    log("running \(scenario) for \(duration) after \(warmup) of warm-up")
    // Ctrl-C (SIGINT) or SIGTERM stops the run early; what was measured is still reported.
    let result = await cancellingOnSignals {
      await prepared.measure(configuration) { snapshot in
        progress.update(snapshot)
        do { try writer?.append(snapshot) } catch { Self.printError("loadgen: writing the histogram log: \(error)") }
      }
    }
    progress.finish()
    try writer?.close()

    var invariantReport: InvariantCheck.Report?
    if let invariants, !result.interrupted {
      do {
        invariantReport = try await invariants.check(settleTimeout: try DurationText.parse(settleTimeout), log: log)
      } catch {
        await prepared.close()
        throw error
      }
    }
    await prepared.close()

    var report = LoadReport(
      result: result, scenario: scenario, target: target, startTime: startTime,
      options: ["command": CommandLine.arguments.dropFirst().joined(separator: " ")])
    report.run.shard = sharding.shard
    report.run.engine = prepared.loopConnections == nil ? "tasks" : "loop"
    report.run.callPath = prepared.loopConnections?.callPath.rawValue
    print(report.text(), terminator: "")
    try ReportFiles.write(report, json: output.json, html: html, csv: csv)
    if let invariantReport { print(invariantReport.text(), terminator: "") }
    if let status = Self.exitStatus(interrupted: result.interrupted, invariants: invariantReport) {
      throw ExitCode(status)
    }
  }

  /// The run's exit status when it is not 0: 130 when it was interrupted, InvariantCheck's when
  /// an invariant failed (so CI can gate on either).
  static func exitStatus(interrupted: Bool, invariants: InvariantCheck.Report?) -> Int32? {
    if interrupted { return 130 }
    if let invariants, !invariants.passed { return InvariantCheck.exitCode }
    return nil
  }

  static func parseTarget(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), port > 0, port < 65_536
    else { throw ValidationError("--target must be HOST:PORT, not \(text)") }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host, port)
  }

  static func parseMix(_ text: String) throws -> [(String, Double)] {
    try text.split(separator: ",").map { part in
      let pieces = part.split(separator: "=", maxSplits: 1)
      guard pieces.count == 2, let weight = Double(pieces[1]), weight > 0 else {
        throw ValidationError("--mix takes NAME=WEIGHT pairs, e.g. checkout=1,browse=9; not \(part)")
      }
      return (String(pieces[0]), weight)
    }
  }

  static func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }
}

/// Durations as the command line writes them: "30s", "500ms", "2m", "1.5s", "250us"; a bare
/// number is seconds.
enum DurationText {
  static func parse(_ text: String) throws -> Duration {
    let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
      if let value = Double(text.dropLast(suffix.count)), value >= 0 {
        return .nanoseconds(Int64((value * scale * 1e9).rounded()))
      }
    }
    if let value = Double(text), value >= 0 { return .nanoseconds(Int64((value * 1e9).rounded())) }
    throw ValidationError("not a duration: \(text) (e.g. 30s, 500ms, 2m)")
  }
}
