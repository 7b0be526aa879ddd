import Histogram
import Synchronization
import Testing

@testable import LoadCore

/// The trust check: a server that answers in 10 ms but stalls for 1 s once.
///
/// Open model, 40 arrivals per second (one every 25 ms), one call in flight at a time (so a
/// stall holds up the sends behind it, as one connection or one thread would), 4 s measured,
/// no warm-up. Arithmetic: the stall is the 10th call; the k-th arrival queued behind it is
/// intended k·25 ms after the stall began and sent after the stall plus k−1 calls of 10 ms, so
/// its corrected latency is about 1000 − 15k ms, above 500 ms for k ≤ 33: with the stalled call,
/// 34 of the 160 calls (21%), so the corrected p90 is far above 500 ms (≈ 1000 − 15·16 ≈ 760 ms).
/// Uncorrected, only the stalled call is slow: 1 of 160 (a busy machine may add a few more, but
/// nowhere near the 30 that correction reveals), so the uncorrected p90 stays at 10 ms.
/// A slower machine only makes each call longer, so the queue drains more slowly: more corrected
/// samples are high, never fewer; the bounds below allow for that without timing thresholds
/// that a busy machine breaks.
@Suite struct CorrectionTests {
  /// The trust check's load: 40 arrivals a second for 4 s, one call in flight (LoopDriverTests
  /// runs the same on the loop engine).
  static let stallEngine = LoadEngine(
    configuration: LoadRunConfiguration(
      model: .open(
        OpenModel(rate: 40, spacing: .uniform, maxInFlight: 1, maxQueueDelay: .seconds(30), lateAfter: .milliseconds(5))),
      warmup: .zero, duration: .seconds(4), workers: 3))

  @Test func correctedPercentilesShowTheStallAndUncorrectedHideIt() async throws {
    let calls = Counter()
    let result = await Self.stallEngine.run(journey: "stall") { context in
      try await context.step("call") {
        let n = calls.next()
        try await Task.sleep(for: n == 10 ? .seconds(1) : .milliseconds(10))
      }
    }
    let summary = result.summary(of: "stall.call")
    #expect(summary.count == 160)
    #expect(summary.errors == 0)
    #expect(result.dispatch.offered == 160)
    #expect(result.dispatch.dropped == 0)
    #expect(result.dispatch.late >= 30)  // the queue behind the stall was sent late

    let key = OperationKey(operation: "stall.call", status: "OK")
    let pair = try #require(result.operations[key])
    let slowCorrected = pair.corrected.count(within: 500_000...max(500_000, pair.corrected.max))
    let slowUncorrected = pair.uncorrected.count(within: 500_000...max(500_000, pair.uncorrected.max))
    #expect(slowCorrected >= 30)  // arithmetic: 34
    #expect(slowUncorrected >= 1)  // the stall itself
    #expect(slowUncorrected <= 8)  // ...and nothing else but a busy machine's hiccups: far from 30

    #expect(summary.corrected.p90 > 500)
    #expect(summary.corrected.max >= 1_000)
    #expect(summary.uncorrected.p90 < 500)
    #expect(summary.uncorrected.max >= 1_000)  // the stall is in both; only its shadow differs
    // The journey carries the same correction as its first step.
    #expect(result.summary(of: "stall").corrected.p90 > 500)
  }

  @Test func closedModelRecordsStepsAndJourneysAndErrorsByStatus() async {
    let counter = Counter()
    let logged = LockedBox<[OperationKey: LatencyHistogram]>([:])
    let phases = LockedBox<[LoadPhase]>([])
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .closed(users: 2, thinkTime: .milliseconds(1)), warmup: .milliseconds(200),
        duration: .seconds(2), workers: 2, interval: .milliseconds(100)),
      onInterval: { snapshot in
        logged.withLock { logged in
          for (key, histogram) in snapshot.measuredHistograms { logged[key, default: .latency()].add(histogram) }
        }
      },
      onPhase: { phase in phases.withLock { $0.append(phase) } })
    let result = await engine.run(journey: "shop") { context in
      try await context.step("look") { try await Task.sleep(for: .milliseconds(2)) }
      let n = counter.next()
      try await context.step("buy") {
        if n % 4 == 0 { throw LoadFailure("SOLD_OUT", "no stock") }
      }
    }
    let journey = result.summary(of: "shop")
    let buy = result.summary(of: "shop.buy")
    let look = result.summary(of: "shop.look")
    #expect(journey.count > 0)
    #expect(look.count == journey.count)
    #expect(buy.count == journey.count)
    #expect(buy.errors == journey.errors)
    #expect(journey.statuses["SOLD_OUT"] == journey.errors)
    #expect(journey.errors > 0)
    #expect(result.operationNames == ["shop", "shop.look", "shop.buy"])  // steps in journey order
    #expect(result.intervals.count >= 5)
    #expect(result.intervals.first?.warmup == true)
    // What an interval log gets adds up to the totals exactly: no call lost at a boundary.
    #expect(logged.withLock { $0 } == result.operations.mapValues(\.corrected))
    #expect(phases.withLock { $0 } == [.measuring, .finished])
    #expect(result.windowCPUSeconds != nil)
  }
}

/// A counter the journeys' tasks share (an Atomic itself cannot be captured).
final class Counter: Sendable {
  private let value = Atomic<Int>(0)

  /// 1, 2, 3, ...
  func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}
