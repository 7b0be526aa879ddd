import ArgumentParser
import LoadCore

/// What every command that drives a scenario is told: the scenario and its settings, the
/// target and how to connect to it. `run`, `capacity` and `sweep` share it.
struct ScenarioOptions: ParsableArguments {
  @Option(help: "The scenario: \(Scenarios.names.joined(separator: ", ")).") var scenario: String
  @Option(help: "The server, HOST:PORT.") var target = "127.0.0.1:7700"
  @Option(help: "The seed manifest (emporium seed --manifest FILE); not needed for echo.") var manifest: String?

  @Option(help: "echo: payload bytes.") var payload = 64
  @Option(help: "checkout, browse: choose among the manifest's first N products.") var products = 1_000
  @Option(help: "checkout, browse: Zipf exponent of product popularity (default: uniform).") var zipf: Double?
  @Option(help: "checkout, hot-product: units on hand to set per product (when the manifest has no stock).") var stock: Int64 = 1_000_000
  @Flag(help: "checkout: set stock even when the manifest brings some.") var setStock = false
  @Option(help: "hot-product: the product id (default: the manifest's first).") var product: String?
  @Option(help: "checkout, hot-product: customers logged in before the run.") var customers = 100
  @Flag(help: "checkout: use prepared tokens instead of logging in as the first step.") var noLoginStep = false
  @Flag(help: "hot-product, capacity and sweep: let the stock run down across phases instead of setting it back to --stock before each.")
  var noRefill = false
  @Option(help: "mix: weights, e.g. checkout=1,browse=9.") var mix: String?
  @Option(help: "Deadline of each call.") var callTimeout = "30s"
  @Option(help: "Connections to the target, at most.") var connections = 4
  @Option(
    help: """
      Engine: auto (loop for echo, tasks for the rest), tasks (a Swift task per journey), or loop \
      (one event loop, no task per journey; scenarios of one call per journey only).
      """) var engine: EngineChoice = .auto
  @Option(
    help: """
      Loop engine: how calls are made. auto (prebuilt when every journey sends the same \
      request), prebuilt (frames built once, copied per call with its id; uncompressed), or \
      client (each call through the RPC client's connection).
      """) var callPath: CallPath = .auto

  func validate() throws {
    if payload < 0 { throw ValidationError("--payload is a number of bytes, at least 0") }
    if engine == .loop, !Scenarios.oneCall.contains(scenario) {
      throw ValidationError(
        "--engine loop runs scenarios of one call per journey (\(Scenarios.oneCall.joined(separator: ", "))), not \(scenario)")
    }
    if callPath != .auto, engine == .tasks || !Scenarios.oneCall.contains(scenario) {
      throw ValidationError("--call-path applies to the loop engine, which runs \(Scenarios.oneCall.joined(separator: ", "))")
    }
  }

  /// The scenario's settings as the options give them.
  func settings() throws -> ScenarioSettings {
    var settings = ScenarioSettings()
    settings.payloadBytes = payload
    settings.products = products
    settings.zipf = zipf
    settings.stock = stock
    settings.setStock = setStock
    settings.hotProduct = product
    settings.customers = customers
    settings.loginEachJourney = !noLoginStep
    settings.refillStock = !noRefill
    settings.callTimeout = try DurationText.parse(callTimeout)
    settings.mix = try mix.map(RunCommand.parseMix) ?? []
    return settings
  }
}

/// The open model's options beside the rate: arrivals, the in-flight cap, what counts as
/// dropped and late, the seed. `run` and `capacity` share it.
struct OpenModelOptions: ParsableArguments {
  @Option(help: "Open model: poisson or uniform arrivals.") var arrivals = "poisson"
  @Option(help: "Open model: at most this many journeys in flight.") var maxInFlight = 10_000
  @Option(help: "Open model: an arrival waiting this long for a free slot is dropped.") var maxQueueDelay = "1s"
  @Option(help: "Open model: a send this far behind its intended time counts as late.") var lateAfter = "5ms"
  @Option(help: "Open model: seed of the Poisson arrivals.") var seed: UInt64 = 1
  @Option(
    help: """
      Open model: wake at most once per this long and send every arrival due by then; 0: at each \
      arrival's time. Arrivals further apart are sent at their own times; latency counts from the \
      intended time either way.
      """) var sendQuantum = "100us"

  func validate() throws {
    if ArrivalSchedule.Spacing(rawValue: arrivals) == nil { throw ValidationError("--arrivals is poisson or uniform") }
  }

  /// The open model at `rate` (ramping to `rampTo` over the measured window).
  func model(rate: Double, rampTo: Double? = nil) throws -> OpenModel {
    OpenModel(
      rate: rate, rampTo: rampTo, spacing: ArrivalSchedule.Spacing(rawValue: arrivals) ?? .poisson,
      maxInFlight: maxInFlight, maxQueueDelay: try DurationText.parse(maxQueueDelay),
      lateAfter: try DurationText.parse(lateAfter), seed: seed, sendQuantum: try DurationText.parse(sendQuantum))
  }
}

/// Where a command writes its report, and whether it shows progress.
struct ReportOptions: ParsableArguments {
  @Option(help: "Write the report as JSON.") var json: String?
  @Flag(help: "No live progress line.") var quiet = false
}
