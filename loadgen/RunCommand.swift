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

  @Option(help: "The scenario: \(Scenarios.names.joined(separator: ", ")).") var scenario: String
  @Option(help: "The server, HOST:PORT.") var target = "127.0.0.1:7700"
  @Option(help: "The seed manifest (emporium seed --manifest FILE); not needed for echo.") var manifest: String?

  @Option(help: "Closed model: this many virtual users.") var users: Int?
  @Option(help: "Closed model: pause between a user's journeys (e.g. 100ms).") var thinkTime: String?
  @Option(help: "Open model: journeys per second.") var rate: Double?
  @Option(help: "Open model: ramp linearly to this rate over the measured window.") var rampTo: Double?
  @Option(help: "Open model: poisson or uniform arrivals.") var arrivals = "poisson"
  @Option(help: "Open model: at most this many journeys in flight.") var maxInFlight = 10_000
  @Option(help: "Open model: an arrival waiting this long for a free slot is dropped.") var maxQueueDelay = "1s"
  @Option(help: "Open model: a send this far behind its intended time counts as late.") var lateAfter = "5ms"
  @Option(help: "Open model: seed of the Poisson arrivals.") var seed: UInt64 = 1

  @Option(help: "Measured time (e.g. 30s, 2m).") var duration = "30s"
  @Option(help: "Warm-up before measuring (recorded in the time series only).") var warmup = "5s"

  @Option(help: "echo: payload bytes.") var payload = 64
  @Option(help: "checkout, browse: choose among the manifest's first N products.") var products = 1_000
  @Option(help: "checkout, browse: Zipf exponent of product popularity (default: uniform).") var zipf: Double?
  @Option(help: "checkout, hot-product: units on hand to set per product (when the manifest has no stock).") var stock: Int64 = 1_000_000
  @Flag(help: "checkout: set stock even when the manifest brings some.") var setStock = false
  @Option(help: "hot-product: the product id (default: the manifest's first).") var product: String?
  @Option(help: "checkout, hot-product: customers logged in before the run.") var customers = 100
  @Flag(help: "checkout: use prepared tokens instead of logging in as the first step.") var noLoginStep = false
  @Option(help: "mix: weights, e.g. checkout=1,browse=9.") var mix: String?
  @Option(help: "Deadline of each call.") var callTimeout = "30s"
  @Option(help: "Connections to the target, at most.") var connections = 4

  @Option(help: "Run shard I of N of the load (e.g. 2/4): 1/N of the users or rate, own customers.") var shard: String?

  @Option(help: "Write the report as JSON.") var json: String?
  @Option(help: "Write the report as one self-contained HTML page.") var html: String?
  @Option(help: "Write the per-operation summary as CSV.") var csv: String?
  @Option(help: "Write HdrHistogram interval logs (one tag per operation).") var histogramLog: String?
  @Flag(help: "No live progress line.") var quiet = false

  func validate() throws {
    guard (users == nil) != (rate == nil) else { throw ValidationError("give exactly one of --users (closed) or --rate (open)") }
    if let users, users < 1 { throw ValidationError("--users must be at least 1") }
    if let rate, rate <= 0 { throw ValidationError("--rate must be positive") }
    if rampTo != nil && rate == nil { throw ValidationError("--ramp-to needs --rate") }
    if thinkTime != nil && users == nil { throw ValidationError("--think-time needs --users") }
    if ArrivalSchedule.Spacing(rawValue: arrivals) == nil { throw ValidationError("--arrivals is poisson or uniform") }
  }

  func run() async throws {
    let model: LoadModel
    if let users {
      model = .closed(users: users, thinkTime: try thinkTime.map { try DurationText.parse($0) })
    } else {
      model = .open(
        OpenModel(
          rate: rate!, rampTo: rampTo, spacing: ArrivalSchedule.Spacing(rawValue: arrivals)!, maxInFlight: maxInFlight,
          maxQueueDelay: try DurationText.parse(maxQueueDelay), lateAfter: try DurationText.parse(lateAfter), seed: seed))
    }
    let sharding = try RunSharding(shard)
    let configuration = LoadRunConfiguration(
      model: try sharding.model(model), warmup: try DurationText.parse(warmup),
      duration: try DurationText.parse(duration))
    var settings = ScenarioSettings()
    settings.payloadBytes = payload
    settings.products = products
    settings.zipf = zipf
    settings.stock = stock
    settings.setStock = setStock
    settings.hotProduct = product
    settings.customers = customers
    settings.loginEachJourney = !noLoginStep
    settings.callTimeout = try DurationText.parse(callTimeout)
    settings.mix = try mix.map(Self.parseMix) ?? []
    settings = sharding.settings(settings)

    let (host, port) = try Self.parseTarget(target)
    var poolConfiguration = RPCClientPool.Configuration()
    poolConfiguration.maxConnectionsPerEndpoint = connections
    let pool = RPCClientPool(endpoints: [Endpoint(host: host, port: port)], configuration: poolConfiguration)
    let clients = CommerceClients(pool)
    let manifestPath = manifest
    let log: @Sendable (String) -> Void = { line in Self.printError("loadgen: " + line) }
    let prepared: any Scenario
    do {
      prepared = sharding.scenario(try await Scenarios.make(
        scenario, settings: settings, clients: clients,
        manifest: {
          guard let manifestPath else { throw ValidationError("--scenario \(scenario) needs --manifest FILE") }
          return try sharding.manifest(LoadManifest.load(manifestPath), customers: settings.customers)
        }, log: log))
    } catch {
      await pool.close()
      throw error
    }

    let startTime = Date()
    let writer = try histogramLog.map { path in
      try IntervalLogWriter(path: path, startTime: startTime, comment: "loadgen \(scenario) -> \(target)")
    }
    let progress = ProgressLine(
      enabled: !quiet && isatty(STDERR_FILENO) != 0, total: configuration.warmup.loadSeconds + configuration.duration.loadSeconds)
    let engine = LoadEngine(
      configuration: configuration, classify: Scenarios.classify,
      onInterval: { snapshot in
        progress.update(snapshot)
        do { try writer?.append(snapshot) } catch { Self.printError("loadgen: writing the histogram log: \(error)") }
      })
    log("running \(scenario) for \(duration) after \(warmup) of warm-up")
    // Ctrl-C (SIGINT) or SIGTERM stops the run early; what was measured is still reported.
    let running = Task { await engine.run(journey: prepared.name) { context in try await prepared.journey(context) } }
    let stops = [SIGINT, SIGTERM].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { running.cancel() }
      source.resume()
      return source
    }
    let result = await running.value
    for source in stops { source.cancel() }
    progress.finish()
    try writer?.close()
    await pool.close()

    var report = LoadReport(
      result: result, scenario: scenario, target: target, startTime: startTime,
      options: ["command": CommandLine.arguments.dropFirst().joined(separator: " ")])
    report.run.shard = sharding.shard
    print(report.text(), terminator: "")
    try ReportFiles.write(report, json: json, html: html, csv: csv)
    if result.interrupted { throw ExitCode(130) }
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
