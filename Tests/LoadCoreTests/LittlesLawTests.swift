import Histogram
import Testing

@testable import LoadCore

@Suite struct LittlesLawTests {
  /// Percentiles of `count` journeys of `milliseconds` each.
  func percentiles(_ milliseconds: Double) -> OperationSummary.Percentiles {
    var histogram = LatencyHistogram.latency()
    for _ in 0..<100 { histogram.recordNanoseconds(UInt64(milliseconds * 1e6)) }
    return OperationSummary.Percentiles(histogram)
  }

  func figures(
    model: String, users: Int? = nil, thinkTime: Double? = nil, seconds: Double = 10, offered: Int, sent: Int,
    late: Int = 0, dropped: Int = 0, journeys: UInt64, corrected: Double, uncorrected: Double? = nil,
    inFlight: Double? = nil
  ) -> RunFigures {
    RunFigures(
      model: model, users: users, thinkTimeSeconds: thinkTime, seconds: seconds, offered: offered, sent: sent,
      late: late, dropped: dropped, journeys: journeys, errors: 0, statuses: ["OK": journeys],
      offeredRate: Double(offered) / seconds, throughput: Double(journeys) / seconds,
      goodput: Double(journeys) / seconds, errorRate: 0, corrected: percentiles(corrected),
      uncorrected: percentiles(uncorrected ?? corrected), meanInFlight: inFlight, interrupted: false)
  }

  @Test func closedRunsHoldWhenUsersAreBusyOrThinking() throws {
    // 8 users, 3,000 journeys/s of 2.667 ms: 8.0 in the system.
    let busy = try #require(
      LittlesLawCheck.check(figures(model: "closed", users: 8, offered: 30_000, sent: 30_000, journeys: 30_000, corrected: 2.667)))
    #expect(busy.holds)
    #expect(abs(busy.predicted - 8) < 0.05)
    #expect(busy.reasons.isEmpty)
    #expect(busy.summary.hasPrefix("8 users vs 3000/s × 2.67ms = 8: holds"))
    // 10 users thinking 100 ms between journeys of 25 ms: 80 journeys/s.
    let thinking = try #require(
      LittlesLawCheck.check(
        figures(model: "closed", users: 10, thinkTime: 0.1, offered: 800, sent: 800, journeys: 800, corrected: 25)))
    #expect(thinking.holds)
    #expect(abs(thinking.predicted - 10) < 0.05)
  }

  @Test func aClosedRunWhoseUsersIdledSaysLoadgenHeldThemBack() throws {
    // 8 users but only 2,000 journeys/s of 2.667 ms: 5.3 in the system, a third of the time lost.
    let check = try #require(
      LittlesLawCheck.check(figures(model: "closed", users: 8, offered: 20_000, sent: 20_000, journeys: 20_000, corrected: 2.667)))
    #expect(!check.holds)
    #expect(abs(check.deviation + 1.0 / 3) < 0.01)
    #expect(check.reasons.count == 1)
    #expect(check.reasons[0].contains("neither in a journey nor thinking"))
  }

  @Test func longJourneysInAShortWindowAreNamed() throws {
    // 4 users, journeys of 1 s in a 5 s window: 24 journeys counted (those straddling the end).
    let check = try #require(
      LittlesLawCheck.check(figures(model: "closed", users: 4, seconds: 5, offered: 24, sent: 24, journeys: 24, corrected: 1_000)))
    #expect(!check.holds)
    #expect(check.reasons.contains { $0.contains("journeys straddling its edges") })
  }

  @Test func openRunsCompareTheJourneysInFlight() throws {
    // 100 arrivals/s of 2 ms: 0.2 in flight.
    let steady = try #require(
      LittlesLawCheck.check(figures(model: "open", offered: 1_000, sent: 1_000, journeys: 1_000, corrected: 2, inFlight: 0.2)))
    #expect(steady.holds)
    #expect(steady.summary == "0.2 in flight vs 100/s × 2ms = 0.2: holds (+0%, tolerance 10%)")
    // No in-flight measurement, or nothing completed: nothing to check.
    let unmeasured = figures(model: "open", offered: 1_000, sent: 1_000, journeys: 1_000, corrected: 20)
    #expect(LittlesLawCheck.check(unmeasured) == nil)
    let allDropped = figures(model: "open", offered: 10, sent: 0, dropped: 10, journeys: 0, corrected: 0, inFlight: 0)
    #expect(LittlesLawCheck.check(allDropped) == nil)
  }

  @Test func dropsAndLateSendsExplainAnOpenRunThatDoesNotHold() throws {
    // 100 arrivals/s offered; 200 of 1,000 dropped; the 800 sent waited 250 ms on average
    // behind schedule (corrected 300 ms) and spent 50 ms in flight: 80/s × 50 ms = 4 in flight,
    // while 100/s × 300 ms predicts 30.
    let check = try #require(
      LittlesLawCheck.check(
        figures(
          model: "open", offered: 1_000, sent: 800, late: 700, dropped: 200, journeys: 800, corrected: 300, uncorrected: 50,
          inFlight: 4)))
    #expect(!check.holds)
    #expect(check.predicted > 25)
    #expect(check.reasons.count == 3)
    #expect(check.reasons[0] == "200 of 1000 arrivals were dropped at the in-flight cap: offered, never in flight")
    #expect(check.reasons[1].hasPrefix("sends ran a mean 2"))  // 250 ms, to the histogram's precision
    #expect(check.reasons[1].contains("(700 late)"))
    #expect(check.reasons[2].hasPrefix("accounting for them, sent rate × latency from the send = 4 "))
  }

  @Test func anOpenRunOffByNothingKnownSaysSo() throws {
    let check = try #require(
      LittlesLawCheck.check(figures(model: "open", offered: 1_000, sent: 1_000, journeys: 1_000, corrected: 20, inFlight: 3)))
    #expect(!check.holds)
    #expect(check.reasons.count == 1)
    #expect(check.reasons[0].hasPrefix("no drops, late sends or long journeys explain it"))
  }

  @Test func theWindowCountsOnlyTheTimeInsideIt() {
    #expect(InFlightTime.overlap(from: 10, to: 20, windowStart: 0, windowEnd: 100) == 10)
    #expect(InFlightTime.overlap(from: 0, to: 20, windowStart: 10, windowEnd: 100) == 10)
    #expect(InFlightTime.overlap(from: 90, to: 120, windowStart: 10, windowEnd: 100) == 10)
    #expect(InFlightTime.overlap(from: 0, to: 5, windowStart: 10, windowEnd: 100) == 0)
    #expect(InFlightTime.overlap(from: 100, to: 120, windowStart: 10, windowEnd: 100) == 0)
  }

  /// The engine's in-flight measurement on real runs of journeys of 10 ms (sleeps: a busy
  /// machine makes them longer, and both sides of the law see that).
  @Test func theEngineMeasuresJourneysInFlight() async throws {
    // Closed, with a warm-up so that journeys straddle both edges of the window: 4 users are
    // (nearly) always in flight, and Little's law holds on the run's own figures.
    let closed = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .closed(users: 4, thinkTime: nil), warmup: .milliseconds(200), duration: .seconds(1)))
    let closedResult = await closed.run(journey: "wait") { _ in try await Task.sleep(for: .milliseconds(10)) }
    let check = try #require(LittlesLawCheck.check(RunFigures(result: closedResult)))
    #expect(check.holds, "\(check.summary): \(check.reasons)")
    #expect(abs(try #require(closedResult.meanInFlight) - 4) < 0.4)

    // Open, 200 arrivals/s: about 2 in flight. Not compared closely with rate × latency: a
    // dispatcher that falls behind on a busy machine sends the window's last arrivals after
    // it (counted in the rate, in flight outside the window), which is what the check's
    // reasons are for. The figure is on the right scale: between 1 and 4 × rate × latency.
    let open = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .open(OpenModel(rate: 200, spacing: .uniform)), warmup: .milliseconds(200), duration: .seconds(2)))
    let openResult = await open.run(journey: "wait") { _ in try await Task.sleep(for: .milliseconds(10)) }
    let figures = RunFigures(result: openResult)
    let inFlight = try #require(figures.meanInFlight)
    let predicted = Double(figures.sent) / figures.seconds * figures.uncorrected.mean / 1_000
    #expect(inFlight >= 1)
    #expect(inFlight <= 4 * predicted)
  }
}
