import ArgumentParser
import Foundation
import LoadCore

#if canImport(Glibc)
import Glibc
#endif

/// `loadgen sweep`: throughput at several concurrencies, and the Universal Scalability Law
/// fitted to it.
struct SweepCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Measure throughput at several concurrencies and fit the Universal Scalability Law.",
    discussion: """
      One closed-model run of --step-duration per --concurrency (virtual users), the scenario \
      prepared once. Fits X(N) = λN / (1 + σ(N−1) + κN(N−1)) to the successful journeys per \
      second by non-linear least squares and reports σ (contention), κ (coherency), the peak \
      concurrency N* = √((1−σ)/κ) and the predicted maximum throughput X(N*), with the fit's \
      R², RMSE and standard errors, and a chart of the fit against the measurements. Exit \
      status 1 when the fit cannot be made. See docs/LOADGEN.md.
      """)

  @OptionGroup var scenarioOptions: ScenarioOptions

  @Option(help: "Concurrencies (virtual users) to measure, comma-separated.") var concurrency = "1,2,4,8,16,32,64"
  @Option(help: "Measured time at each concurrency.") var stepDuration = "10s"
  @Option(help: "Warm-up before each concurrency (not measured).") var warmup = "2s"
  @Option(help: "Pause between a user's journeys (e.g. 100ms).") var thinkTime: String?
  @Option(help: "Little's law cross-check: tolerance, e.g. 10%.") var littleTolerance = "10%"
  @OptionGroup var output: ReportOptions

  func validate() throws {
    let levels = try Self.parseConcurrencies(concurrency)
    if Set(levels).count < 3 { throw ValidationError("--concurrency needs three or more distinct values to fit three parameters") }
    do { _ = try ServiceLevelObjective.parseRate(littleTolerance) } catch { throw ValidationError("\(error)") }
  }

  /// "1,2,4" → [1, 2, 4]; every value at least 1.
  static func parseConcurrencies(_ text: String) throws -> [Int] {
    try text.split(separator: ",").map { part in
      guard let value = Int(part.trimmingCharacters(in: .whitespaces)), value >= 1 else {
        throw ValidationError("--concurrency takes positive integers, e.g. 1,2,4,8; not \(part)")
      }
      return value
    }
  }

  func run() async throws {
    let levels = try Self.parseConcurrencies(concurrency)
    let stepLength = try DurationText.parse(stepDuration)
    let warmupLength = try DurationText.parse(warmup)
    let think = try thinkTime.map { try DurationText.parse($0) }
    let tolerance = try ServiceLevelObjective.parseRate(littleTolerance)

    let log: @Sendable (String) -> Void = { line in RunCommand.printError("loadgen: " + line) }
    let prepared = try await PreparedScenario.prepare(scenarioOptions, log: log)
    let startTime = Date()
    log("sweep of \(prepared.name) over \(levels.map(String.init).joined(separator: ", ")) users")
    let showProgress = !output.quiet
    let liveLine = showProgress && isatty(STDERR_FILENO) != 0

    let (points, interrupted) = await cancellingOnSignals { () -> ([SweepPoint], Bool) in
      var points: [SweepPoint] = []
      for users in levels {
        let configuration = LoadRunConfiguration(
          model: .closed(users: users, thinkTime: think), warmup: warmupLength, duration: stepLength)
        if !points.isEmpty, await !prepared.refill(log: log) { return (points, true) }
        let progress = ProgressLine(enabled: liveLine, total: warmupLength.loadSeconds + stepLength.loadSeconds)
        let result = await prepared.measure(configuration) { progress.update($0) }
        progress.finish()
        if result.interrupted { return (points, true) }
        let figures = RunFigures(result: result)
        let point = SweepPoint(
          concurrency: users, figures: figures, littlesLaw: LittlesLawCheck.check(figures, tolerance: tolerance))
        points.append(point)
        if showProgress { log(point.line) }
      }
      return (points, false)
    }
    await prepared.close()

    let report = SweepReport(
      scenario: prepared.name, target: prepared.target, startTime: startTime,
      options: ["command": CommandLine.arguments.dropFirst().joined(separator: " ")],
      settings: .init(
        concurrencies: levels, durationSeconds: stepLength.loadSeconds, warmupSeconds: warmupLength.loadSeconds,
        thinkTimeSeconds: think?.loadSeconds, littlesLawTolerance: tolerance,
        loadgenCores: prepared.loopConnections != nil ? 1 : Double(processorsAvailable())),
      points: points)
    print(report.text(), terminator: "")
    if let json = output.json { try report.json().write(to: URL(fileURLWithPath: json)) }
    if interrupted { throw ExitCode(130) }
    if report.fit == nil { throw ExitCode(1) }
  }
}
