import ArgumentParser
import Foundation
import LoadCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `loadgen capacity`: the highest arrival rate that meets a latency and error objective.
struct CapacityCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "capacity",
    abstract: "Find the highest arrival rate that meets a latency objective (--slo 'p99<50ms').",
    discussion: """
      Open-model steps of --step-duration each: the rate starts at --start-rate and doubles \
      (--step-factor) while the objective holds, then bisects between the highest passing and \
      the lowest failing rate to --resolution (a failing step is measured once more before it \
      is believed). A --confirm-duration run confirms the answer (when it fails, the next is \
      10%, then 20%, 30% lower; at most --confirmations runs), and the lowest failing rate is \
      measured once more: when it passes now, the search goes on from it. The objective is \
      evaluated on the journey's corrected latency; dropped arrivals count against it. Exit \
      status 1 when no rate meets the objective. See docs/LOADGEN.md.
      """)

  @OptionGroup var scenarioOptions: ScenarioOptions

  @Option(help: "Latency objective: comma-separated bounds, e.g. 'p99<50ms' or 'p99<50ms,p999<200ms'.")
  var slo: String
  @Option(help: "Highest share of failed or dropped journeys, e.g. 0.1% or 0.001.") var maxErrorRate = "0.1%"

  @Option(help: "The first rate tried (journeys per second).") var startRate: Double = 10
  @Option(help: "The highest rate tried.") var maxRate: Double = 100_000
  @Option(help: "Stepping down from a failing start stops at this rate.") var minRate: Double = 1
  @Option(help: "Each step up multiplies the rate by this.") var stepFactor: Double = 2
  @Option(help: "Bisect until the bracket is this narrow (relative), e.g. 5%.") var resolution = "5%"
  @Option(help: "Measured time of each step.") var stepDuration = "10s"
  @Option(
    help: ArgumentHelp(
      "At least this many journeys per step (a step at a low rate runs longer); 3 times as many to confirm.",
      discussion: "Default: enough for 5 journeys beyond the objective's highest percentile (500 for p99), so that the percentile is measured, not guessed from a handful of journeys; 0: steps of --step-duration only."))
  var minJourneys: Int?
  @Option(help: "Warm-up before each step (at its rate, not measured).") var warmup = "2s"
  @Option(help: "Measured time of the confirmation run (default: 3 steps).") var confirmDuration: String?
  @Option(help: "At most this many confirmation runs.") var confirmations = 4
  @Flag(help: "Believe a failing step at once (by default a failing step is measured once more).") var noRecheck = false
  @Flag(help: "Do not measure the lowest failing rate again after the confirmation.") var noVerify = false
  @OptionGroup var openModel: OpenModelOptions

  @Option(help: "Little's law cross-check: tolerance, e.g. 10%.") var littleTolerance = "10%"
  @OptionGroup var output: ReportOptions

  func validate() throws {
    if let minJourneys, minJourneys < 0 { throw ValidationError("--min-journeys must be 0 or more") }
    do {
      _ = try ServiceLevelObjective.parse(latency: slo, errorRate: maxErrorRate)
      if let problem = try searchConfiguration().problem { throw ValidationError(problem) }
      _ = try ServiceLevelObjective.parseRate(littleTolerance)
    } catch let error as ObjectiveSyntaxError {
      throw ValidationError(error.description)
    }
  }

  func searchConfiguration() throws -> CapacitySearch.Configuration {
    CapacitySearch.Configuration(
      startRate: startRate, maxRate: maxRate, minRate: minRate, stepFactor: stepFactor,
      resolution: try ServiceLevelObjective.parseRate(resolution), confirmations: confirmations,
      recheckFailures: !noRecheck, verifyFailingEnd: !noVerify)
  }

  func run() async throws {
    let objective = try ServiceLevelObjective.parse(latency: slo, errorRate: maxErrorRate)
    let search = try searchConfiguration()
    let stepLength = try DurationText.parse(stepDuration)
    let warmupLength = try DurationText.parse(warmup)
    let confirmLength = try confirmDuration.map { try DurationText.parse($0) } ?? stepLength * 3
    let journeys = max(0, minJourneys ?? objective.journeysNeeded())
    let tolerance = try ServiceLevelObjective.parseRate(littleTolerance)
    let openModel = self.openModel
    _ = try openModel.model(rate: startRate)

    let log: @Sendable (String) -> Void = { line in RunCommand.printError("loadgen: " + line) }
    let prepared = try await PreparedScenario.prepare(scenarioOptions, log: log)
    let startTime = Date()
    log("capacity of \(prepared.name) under \(objective)")
    let showProgress = !output.quiet
    let liveLine = showProgress && isatty(STDERR_FILENO) != 0

    let steps = LockedSteps()
    let answer = await cancellingOnSignals {
      await CapacitySearch.run(search) { probe -> Bool? in
        let length =
          probe.phase == .confirm
          ? CapacitySearch.stepLength(base: confirmLength, rate: probe.rate, journeys: journeys * 3)
          : CapacitySearch.stepLength(base: stepLength, rate: probe.rate, journeys: journeys)
        let configuration = LoadRunConfiguration(
          model: .open((try? openModel.model(rate: probe.rate)) ?? OpenModel(rate: probe.rate)), warmup: warmupLength,
          duration: length)
        if steps.count > 0, await !prepared.refill(log: log) { return nil }
        let progress = ProgressLine(enabled: liveLine, total: warmupLength.loadSeconds + length.loadSeconds)
        let result = await prepared.measure(configuration) { progress.update($0) }
        progress.finish()
        if result.interrupted { return nil }
        let figures = RunFigures(result: result)
        let step = CapacityStep(
          index: steps.count + 1, probe: probe, figures: figures, evaluation: objective.evaluate(result),
          littlesLaw: LittlesLawCheck.check(figures, tolerance: tolerance))
        steps.append(step)
        if showProgress { log(step.line) }
        return step.passed
      }
    }
    await prepared.close()

    let report = CapacityReport(
      scenario: prepared.name, target: prepared.target, startTime: startTime,
      options: ["command": CommandLine.arguments.dropFirst().joined(separator: " ")], objective: objective,
      settings: .init(
        stepSeconds: stepLength.loadSeconds, warmupSeconds: warmupLength.loadSeconds,
        confirmSeconds: confirmLength.loadSeconds, arrivals: openModel.arrivals, maxInFlight: openModel.maxInFlight,
        search: search, littlesLawTolerance: tolerance, minimumJourneys: journeys,
        loadgenCores: prepared.loopConnections != nil ? 1 : Double(processorsAvailable())),
      steps: steps.all, answer: answer)
    print(report.text(), terminator: "")
    if let json = output.json { try report.json().write(to: URL(fileURLWithPath: json)) }
    if answer.stopped { throw ExitCode(130) }
    if !report.met { throw ExitCode(1) }
  }
}

/// The steps measured so far, appended from the search's task and read at the end.
final class LockedSteps: Sendable {
  private let steps = Mutex<[CapacityStep]>([])

  var count: Int { steps.withLock { $0.count } }
  var all: [CapacityStep] { steps.withLock { $0 } }
  func append(_ step: CapacityStep) { steps.withLock { $0.append(step) } }
}
