import Histogram
import Testing

@testable import LoadCore

@Suite struct ServiceLevelObjectiveTests {
  /// `count` journeys at each latency in milliseconds.
  func journeys(_ parts: [(count: Int, milliseconds: UInt64)]) -> LatencyHistogram {
    var histogram = LatencyHistogram.latency()
    for part in parts {
      for _ in 0..<part.count { histogram.recordNanoseconds(part.milliseconds * 1_000_000) }
    }
    return histogram
  }

  @Test func parsesBoundsUnitsAndErrorRates() throws {
    let objective = try ServiceLevelObjective.parse(
      latency: "p99<50ms, p999<=200ms,p50<250us,max<1.5s", errorRate: "0.1%")
    #expect(objective.bounds.map(\.percentile) == [99, 99.9, 50, 100])
    #expect(objective.bounds.map(\.limitMilliseconds) == [50, 200, 0.25, 1_500])
    #expect(objective.bounds.map(\.inclusive) == [false, true, false, false])
    #expect(objective.maxErrorRate == 0.001)
    #expect(objective.description == "p99<50ms,p99.9<=200ms,p50<250us,max<1.5s, errors <= 0.1%")
    #expect(try ServiceLevelObjective.parse(latency: "p99.9<1s", errorRate: "0.001").bounds[0].percentile == 99.9)
    #expect(try ServiceLevelObjective.parse(latency: "p9999<1s", errorRate: "0").bounds[0].percentile == 99.99)

    for bad in ["", "p99>50ms", "p99<50", "q99<50ms", "p0<1ms", "p101<1ms", "p99<-5ms", "p99<fast"] {
      #expect(throws: ObjectiveSyntaxError.self) { try ServiceLevelObjective.parse(latency: bad, errorRate: "1%") }
    }
    #expect(throws: ObjectiveSyntaxError.self) { try ServiceLevelObjective.parse(latency: "p99<1s", errorRate: "150%") }
    #expect(throws: ObjectiveSyntaxError.self) { try ServiceLevelObjective.parse(latency: "p99<1s", errorRate: "lots") }
  }

  @Test func percentilesOfTheJourneysDecide() throws {
    // 995 journeys at 10 ms, 5 at 100 ms: p99 is 10 ms, p99.9 is 100 ms.
    let histogram = journeys([(995, 10), (5, 100)])
    let objective = try ServiceLevelObjective.parse(latency: "p99<50ms,p999<50ms", errorRate: "0.1%")
    let evaluation = objective.evaluate(journeys: histogram, errors: 0, dropped: 0)
    #expect(evaluation.bounds.map(\.met) == [true, false])
    #expect(abs(try #require(evaluation.bounds[0].measuredMilliseconds) - 10) < 0.1)
    #expect(abs(try #require(evaluation.bounds[1].measuredMilliseconds) - 100) < 0.1)
    #expect(!evaluation.met)
    #expect(evaluation.reasons.count == 1)
    #expect(evaluation.reasons[0].hasPrefix("p99.9 100"))
    #expect(evaluation.reasons[0].hasSuffix("ms over 50ms"))

    let relaxed = try ServiceLevelObjective.parse(latency: "p99<50ms", errorRate: "0.1%")
    #expect(relaxed.evaluate(journeys: histogram, errors: 0, dropped: 0).met)
    // A strict bound is not met at the limit; an inclusive one is.
    let strict = try ServiceLevelObjective.parse(latency: "p50<10ms", errorRate: "1%")
    let inclusive = try ServiceLevelObjective.parse(latency: "p50<=10.1ms", errorRate: "1%")
    #expect(!strict.evaluate(journeys: histogram, errors: 0, dropped: 0).met)
    #expect(inclusive.evaluate(journeys: histogram, errors: 0, dropped: 0).met)
  }

  @Test func droppedArrivalsCountAsSlowerThanEveryBoundAndAsErrors() throws {
    let histogram = journeys([(995, 10), (5, 100)])
    let objective = try ServiceLevelObjective.parse(latency: "p99<50ms", errorRate: "1%")
    // 3 dropped of 1003 arrivals: p99 is the 993rd fastest, still 10 ms; errors 0.3%.
    let few = objective.evaluate(journeys: histogram, errors: 0, dropped: 3)
    #expect(few.met)
    #expect(abs(few.errorRate - 3.0 / 1003) < 1e-12)
    // 6 dropped: p99 is the 996th fastest, one of the 100 ms journeys: the drops pushed it up.
    let more = objective.evaluate(journeys: histogram, errors: 0, dropped: 6)
    #expect(!more.met)
    #expect(abs(try #require(more.bounds[0].measuredMilliseconds) - 100) < 0.1)
    // 20 dropped of 1020: p99 falls among the dropped arrivals, and errors are 2%.
    let many = objective.evaluate(journeys: histogram, errors: 0, dropped: 20)
    #expect(!many.met)
    #expect(many.bounds[0].measuredMilliseconds == nil)
    #expect(many.reasons.contains { $0.contains("20 of 1020 arrivals dropped") })
    #expect(many.reasons.contains { $0.hasPrefix("errors 2%") })
  }

  @Test func errorsCountAgainstTheErrorRate() throws {
    let histogram = journeys([(1_000, 5)])
    let strict = try ServiceLevelObjective.parse(latency: "p99<50ms", errorRate: "0.1%")
    #expect(strict.evaluate(journeys: histogram, errors: 1, dropped: 0).met)  // exactly 0.1%
    let failing = strict.evaluate(journeys: histogram, errors: 2, dropped: 0)
    #expect(!failing.met)
    #expect(failing.bounds[0].met)
    #expect(failing.reasons == ["errors 0.2% over 0.1% (2 failed of 1000)"])
  }

  @Test func aRunThatMeasuredNothingMeetsNothing() throws {
    let objective = try ServiceLevelObjective.parse(latency: "p99<50ms", errorRate: "100%")
    let evaluation = objective.evaluate(journeys: .latency(), errors: 0, dropped: 0)
    #expect(!evaluation.met)
    #expect(evaluation.reasons == ["no journey was measured"])
    // Everything dropped: nothing completed, so no percentile is met.
    #expect(!objective.evaluate(journeys: .latency(), errors: 0, dropped: 10).met)
  }

  @Test func stepsAtLowRatesRunLongEnoughForTheObjectivesPercentile() throws {
    #expect(try ServiceLevelObjective.parse(latency: "p99<50ms", errorRate: "0.1%").journeysNeeded() == 500)
    #expect(try ServiceLevelObjective.parse(latency: "p50<5ms,p99.9<200ms", errorRate: "0.1%").journeysNeeded() == 5_000)
    #expect(try ServiceLevelObjective.parse(latency: "max<1s", errorRate: "0.1%").journeysNeeded() == 0)
    // 500 journeys at 5/s take 100 s, longer than a 10 s step; at 40,000/s the step is enough.
    #expect(CapacitySearch.stepLength(base: .seconds(10), rate: 5, journeys: 500) == .seconds(100))
    #expect(CapacitySearch.stepLength(base: .seconds(10), rate: 40_000, journeys: 500) == .seconds(10))
    #expect(CapacitySearch.stepLength(base: .seconds(10), rate: 5, journeys: 0) == .seconds(10))
  }
}
