import Foundation
import Testing

@testable import LoadCore

/// A capacity answer warns when loadgen itself was near its own limit at the runs the answer
/// rests on: then the answer may be loadgen's, not the system's.
@Suite struct LoadgenBusyTests {
  func step(_ index: Int, rate: Double, phase: CapacitySearch.Phase, passed: Bool, cpu: Double?) -> CapacityStep {
    let none = OperationSummary.Percentiles(LatencyHistogram.latency())
    let figures = RunFigures(
      model: "open", rate: rate, seconds: 10, offered: Int(rate * 10), sent: Int(rate * 10), late: 0, dropped: 0,
      journeys: UInt64(rate * 10), errors: 0, statuses: [:], offeredRate: rate, throughput: rate, goodput: rate,
      errorRate: 0, corrected: none, uncorrected: none, cpuSeconds: cpu, interrupted: false)
    let evaluation = ObjectiveEvaluation(bounds: [], errorRate: 0, maxErrorRate: 0.001, met: passed, reasons: [])
    return CapacityStep(
      index: index, probe: .init(rate: rate, phase: phase), figures: figures, evaluation: evaluation, littlesLaw: nil)
  }

  let answer = CapacityAnswer(
    rate: 90_000, highestPassing: 90_000, lowestFailing: 100_000, lowestFailingAbove: 100_000, reachedMaximum: false,
    confirmationRuns: 1, failedConfirmations: 0, failedConfirmationsAbove: 0, failingEndVerified: nil, resumes: 0,
    noisyRates: [], observations: [])

  func warning(confirmCPU: Double, failingCPU: Double, cores: Double?) -> String? {
    let steps = [
      step(1, rate: 100_000, phase: .stepUp, passed: false, cpu: failingCPU),
      step(2, rate: 90_000, phase: .bisect, passed: true, cpu: 5),
      step(3, rate: 90_000, phase: .confirm, passed: true, cpu: confirmCPU),
    ]
    return CapacityReport.loadgenBusy(answer: answer, steps: steps, confirmation: steps[2], cores: cores)
  }

  @Test func aBusyLoopEngineAtTheConfirmationIsReported() throws {
    let text = try #require(warning(confirmCPU: 9.8, failingCPU: 9, cores: 1))
    #expect(text.hasPrefix("loadgen itself kept 98% of its core busy during the confirmation at 90000/s"))
    #expect(text.contains("--shard"))
  }

  @Test func aBusyFailingStepAboveTheAnswerIsReported() throws {
    let text = try #require(warning(confirmCPU: 5, failingCPU: 9.5, cores: 1))
    #expect(text.hasPrefix("loadgen itself kept 95% of its core busy during 100000/s (which failed): near its own limit"))
  }

  @Test func loadgenWithRoomToSpareSaysNothing() {
    #expect(warning(confirmCPU: 9.8, failingCPU: 9, cores: 2) == nil)  // the task engine on two cores: half busy
    #expect(warning(confirmCPU: 8, failingCPU: 8, cores: 1) == nil)  // 80%: below the mark
    #expect(warning(confirmCPU: 9.8, failingCPU: 9.8, cores: nil) == nil)  // an older report: unknown
  }

  @Test func theAffinityMaskCountsTheProcessorsAllowed() {
    #expect(allowedProcessors(status: "Name:\tloadgen\nCpus_allowed:\t2\nCpus_allowed_list:\t1\n") == 1)
    #expect(allowedProcessors(status: "Cpus_allowed:\t3\n") == 2)
    #expect(allowedProcessors(status: "Cpus_allowed:\tff,ffffffff\n") == 40)
    #expect(allowedProcessors(status: "Name:\tloadgen\n") == nil)
    #expect(processorsAvailable() >= 1)
  }

  @Test func aSweepNamesTheConcurrenciesWhereLoadgenWasBusy() {
    func point(_ n: Int, cpu: Double) -> SweepPoint {
      SweepPoint(concurrency: n, figures: step(n, rate: Double(1_000 * n), phase: .stepUp, passed: true, cpu: cpu).figures, littlesLaw: nil)
    }
    func report(cores: Double?) -> SweepReport {
      SweepReport(
        scenario: "echo", target: "127.0.0.1:1", startTime: .init(timeIntervalSince1970: 0),
        settings: .init(
          concurrencies: [1, 2, 4], durationSeconds: 10, warmupSeconds: 0, thinkTimeSeconds: nil, littlesLawTolerance: 0.1,
          loadgenCores: cores),
        points: [point(1, cpu: 3), point(2, cpu: 6), point(4, cpu: 9.9)])
    }
    let busy = report(cores: 1)
    #expect(busy.loadgenBusyWarning?.hasPrefix("loadgen itself was near its own limit at N=4 (99%)") == true)
    #expect(busy.text().contains("loadgen itself was near its own limit at N=4"))
    #expect(report(cores: 2).loadgenBusyWarning == nil)
    #expect(report(cores: nil).loadgenBusyWarning == nil)
  }
}
