import ArgumentParser
import Foundation
import LoadCore
import RPCTestSupport
import Testing

@testable import loadgen

/// `capacity` and `sweep` end to end: the echo scenario against an echo server on 127.0.0.1,
/// with steps of a fraction of a second. Only what cannot depend on the machine's speed is
/// asserted: the objectives are either always met (p99 under a minute) or never (p50 under
/// 1 µs, below the recorder's resolution).
@Suite struct CommandTests {
  func temporaryFile(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-\(UUID().uuidString)-\(name)").path
  }

  func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: path)))
  }

  /// Runs `loadgen capacity` with the echo scenario against an echo server, with `arguments`
  /// beside the target, `--warmup 0s`, `--quiet` and `--json`; its report. `expectFailure`: the
  /// command must exit with status 1 (no rate met the objective).
  func capacity(_ arguments: [String], expectFailure: Bool = false) async throws -> CapacityReport {
    let json = temporaryFile("capacity.json")
    try await withServer { _, port in
      let command = try CapacityCommand.parse(
        ["--scenario", "echo", "--target", "127.0.0.1:\(port)", "--warmup", "0s", "--quiet", "--json", json] + arguments)
      if expectFailure {
        await #expect(throws: ExitCode(1)) { try await command.run() }
      } else {
        try await command.run()
      }
    }
    return try read(CapacityReport.self, from: json)
  }

  @Test func capacityStepsUpToTheMaximumWhenEveryStepPasses() async throws {
    let report = try await capacity([
      "--slo", "p99<60s", "--max-error-rate", "100%", "--start-rate", "20", "--max-rate", "80", "--step-duration", "300ms",
      "--confirm-duration", "300ms", "--min-journeys", "0",
    ])
    #expect(report.steps.map(\.rate) == [20, 40, 80, 80])
    #expect(report.steps.map(\.phase) == [.stepUp, .stepUp, .stepUp, .confirm])
    #expect(report.steps.allSatisfy { $0.passed && $0.figures.journeys > 0 && $0.figures.errors == 0 })
    #expect(report.steps.allSatisfy { $0.figures.meanInFlight != nil })
    #expect(report.answer.rate == 80)
    #expect(report.answer.reachedMaximum)
    #expect(report.met)
    #expect(report.objective == "p99<60s, errors <= 100%")
  }

  @Test func capacityStepsRunLongEnoughForTheirPercentile() async throws {
    let report = try await capacity([
      "--slo", "p99<60s", "--max-error-rate", "100%", "--start-rate", "20", "--max-rate", "20", "--step-duration", "300ms",
      "--confirm-duration", "300ms", "--min-journeys", "40", "--arrivals", "uniform",
    ])
    #expect(report.settings.minimumJourneys == 40)
    #expect(report.steps.map(\.phase) == [.stepUp, .confirm])
    // 40 journeys at 20/s: a 2 s step, not 300 ms; the confirmation three times as long.
    #expect((report.steps.first?.figures.journeys ?? 0) >= 38)
    #expect((report.steps.last?.figures.journeys ?? 0) >= 115)
  }

  @Test func capacityExitsNonZeroWhenNoRateMeetsTheObjective() async throws {
    let report = try await capacity(
      ["--slo", "p50<1us", "--start-rate", "20", "--min-rate", "10", "--no-recheck", "--step-duration", "300ms"],
      expectFailure: true)
    #expect(report.steps.map(\.rate) == [20, 10])
    #expect(report.steps.map(\.phase) == [.stepUp, .stepDown])
    #expect(report.steps.allSatisfy { !$0.passed })
    #expect(report.answer.rate == nil)
    #expect(!report.met)
  }

  @Test func sweepMeasuresEachConcurrencyAndFits() async throws {
    let json = temporaryFile("sweep.json")
    try await withServer { _, port in
      let command = try SweepCommand.parse([
        "--scenario", "echo", "--target", "127.0.0.1:\(port)", "--concurrency", "1,2,4", "--step-duration", "300ms",
        "--warmup", "0s", "--quiet", "--json", json,
      ])
      try await command.run()
    }
    let report = try read(SweepReport.self, from: json)
    #expect(report.points.map(\.concurrency) == [1, 2, 4])
    #expect(report.points.allSatisfy { $0.throughput > 0 && $0.errors == 0 && $0.littlesLaw != nil })
    let fit = try #require(report.fit)
    #expect(fit.points == 3)
    #expect(!report.curve.isEmpty)
    #expect(report.points.allSatisfy { $0.fitted != nil })
  }

  /// The same seeded open run on each engine and each of the loop engine's call paths: the
  /// schedule is the same, so the arrivals are; each sends every one, and records the journey
  /// and its call once per send.
  @Test(arguments: [(EngineChoice.tasks, CallPath.auto), (.loop, .auto), (.loop, .client)])
  func echoRunsOnEitherEngine(engine: EngineChoice, callPath: CallPath) async throws {
    let json = temporaryFile("run-\(engine)-\(callPath).json")
    try await withServer { _, port in
      let command = try RunCommand.parse([
        "--scenario", "echo", "--target", "127.0.0.1:\(port)", "--rate", "200", "--arrivals", "poisson", "--seed", "7",
        "--duration", "1s", "--warmup", "0s", "--engine", engine.rawValue, "--connections", "2", "--quiet", "--json",
        json, "--call-path", callPath.rawValue,
      ])
      try await command.run()
    }
    let report = try read(LoadReport.self, from: json)
    var schedule = ArrivalSchedule(rate: 200, spacing: .poisson, warmup: 0, duration: 1_000_000_000, seed: 7)
    var scheduled = 0
    while schedule.next() != nil { scheduled += 1 }
    #expect(report.dispatch.offered == scheduled)
    #expect(report.dispatch.sent == scheduled)
    #expect(report.dispatch.dropped == 0)
    let journeys = try #require(report.operations.first { $0.operation == "echo" })
    let calls = try #require(report.operations.first { $0.operation == "echo.echo" })
    #expect(journeys.count == UInt64(scheduled))
    #expect(calls.count == UInt64(scheduled))
    #expect(journeys.errors == 0)
    #expect(journeys.corrected.p50 >= journeys.uncorrected.p50)
    #expect(report.run.engine == engine.rawValue)
    // The loop engine prebuilds echo's call unless told to go through the client.
    let path: String? = engine == .tasks ? nil : callPath == .client ? "client" : "prebuilt"
    #expect(report.run.callPath == path)
    #expect(report.text().contains(", \(engine.rawValue) engine\(path.map { " (\($0) calls)" } ?? ""); "))
  }

  /// An echo request larger than the server's first frame cannot go out as built: `auto` calls
  /// through the client instead, and asking for the prebuilt path fails with the reason.
  @Test func aRequestTooLargeToPrebuildGoesThroughTheClient() async throws {
    let json = temporaryFile("run-large.json")
    let arguments = ["--scenario", "echo", "--users", "2", "--duration", "300ms", "--warmup", "0s", "--payload", "70000", "--quiet"]
    try await withServer { _, port in
      let target = ["--target", "127.0.0.1:\(port)"]
      try await RunCommand.parse(arguments + target + ["--json", json]).run()
      await #expect {
        try await RunCommand.parse(arguments + target + ["--call-path", "prebuilt"]).run()
      } throws: { "\($0)".contains("more than one frame") && "\($0)".contains("--call-path client") }
    }
    let report = try read(LoadReport.self, from: json)
    #expect(report.run.callPath == "client")
    let journeys = try #require(report.operations.first { $0.operation == "echo" })
    #expect(journeys.count > 0)
    #expect(journeys.errors == 0)
  }

  @Test func optionsAreValidated() throws {
    #expect(throws: (any Error).self) { try CapacityCommand.parse(["--scenario", "echo", "--slo", "p99>5ms"]) }
    #expect(throws: (any Error).self) {
      try CapacityCommand.parse(["--scenario", "echo", "--slo", "p99<5ms", "--start-rate", "5", "--min-rate", "10"])
    }
    #expect(throws: (any Error).self) { try SweepCommand.parse(["--scenario", "echo", "--concurrency", "1,2"]) }
    #expect(throws: (any Error).self) { try SweepCommand.parse(["--scenario", "echo", "--concurrency", "1,0,4"]) }
    #expect(throws: (any Error).self) { try RunCommand.parse(["--scenario", "echo", "--rate", "5", "--arrivals", "bursty"]) }
    #expect(throws: (any Error).self) { try RunCommand.parse(["--scenario", "echo", "--users", "1", "--payload", "-1"]) }
    // The loop engine runs journeys of one call only.
    #expect(throws: (any Error).self) { try RunCommand.parse(["--scenario", "checkout", "--users", "1", "--engine", "loop"]) }
    #expect(throws: (any Error).self) { try RunCommand.parse(["--scenario", "mix", "--users", "1", "--engine", "loop"]) }
    let echo = try RunCommand.parse(["--scenario", "echo", "--users", "1", "--engine", "loop"])
    #expect(echo.scenarioOptions.engine == .loop)
    // Call paths are the loop engine's.
    #expect(throws: (any Error).self) {
      try RunCommand.parse(["--scenario", "echo", "--users", "1", "--engine", "tasks", "--call-path", "prebuilt"])
    }
    #expect(throws: (any Error).self) { try RunCommand.parse(["--scenario", "checkout", "--users", "1", "--call-path", "client"]) }
  }
}
