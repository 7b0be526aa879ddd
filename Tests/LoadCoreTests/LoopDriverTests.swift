import Dispatch
import Histogram
import Testing

@testable import LoadCore

/// A serial Dispatch queue as the loop engine's loop (loadgen's is a SwiftNIO event loop).
final class QueueLoop: LoadLoop {
  private let queue = DispatchQueue(label: "LoopDriverTests.loop")
  private let key = DispatchSpecificKey<Bool>()

  init() { queue.setSpecific(key: key, value: true) }

  var isCurrent: Bool { DispatchQueue.getSpecific(key: key) == true }

  func execute(_ work: @escaping @Sendable () -> Void) { queue.async(execute: work) }

  func schedule(afterNanoseconds nanoseconds: UInt64, _ work: @escaping @Sendable () -> Void) {
    queue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds)), execute: work)
  }
}

@Suite struct LoopDriverTests {
  /// The trust check of CorrectionTests, on the loop engine: the same arithmetic holds (a call
  /// answers after 10 ms, the 10th after 1 s; one in flight; 40 arrivals a second for 4 s).
  @Test func correctedPercentilesShowTheStallAndUncorrectedHideItOnTheLoop() async throws {
    let loop = QueueLoop()
    let calls = Counter()
    let result = await CorrectionTests.stallEngine.run(journey: "stall", step: "call", on: loop) { journey in
      #expect(loop.isCurrent)
      let n = calls.next()
      loop.schedule(afterNanoseconds: n == 10 ? 1_000_000_000 : 10_000_000) { journey.finish(status: OperationKey.ok) }
    }
    let summary = result.summary(of: "stall.call")
    #expect(summary.count == 160)
    #expect(summary.errors == 0)
    #expect(result.dispatch.offered == 160)
    #expect(result.dispatch.sent == 160)
    #expect(result.dispatch.dropped == 0)
    #expect(result.dispatch.late >= 30)

    let key = OperationKey(operation: "stall.call", status: "OK")
    let pair = try #require(result.operations[key])
    #expect(pair.corrected.count(within: 500_000...max(500_000, pair.corrected.max)) >= 30)  // arithmetic: 34
    let slowUncorrected = pair.uncorrected.count(within: 500_000...max(500_000, pair.uncorrected.max))
    #expect(slowUncorrected >= 1)
    #expect(slowUncorrected <= 8)
    #expect(summary.corrected.p90 > 500)
    #expect(summary.uncorrected.p90 < 500)
    #expect(result.summary(of: "stall").count == 160)
    #expect(result.summary(of: "stall").corrected.p90 > 500)
    #expect(Set(result.operationNames) == ["stall", "stall.call"])
  }

  /// Without a queueing allowance, arrivals that find the one slot taken are dropped and
  /// counted; every arrival is either sent or dropped, and only sent ones are recorded.
  @Test func arrivalsAtTheCapAreDroppedAndCounted() async {
    let loop = QueueLoop()
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .open(OpenModel(rate: 100, spacing: .uniform, maxInFlight: 1, maxQueueDelay: .zero)),
        warmup: .zero, duration: .milliseconds(500), workers: 2))
    let result = await engine.run(journey: "slow", step: "call", on: loop) { journey in
      loop.schedule(afterNanoseconds: 35_000_000) { journey.finish(status: "UNAVAILABLE") }
    }
    #expect(result.dispatch.offered == 50)
    #expect(result.dispatch.sent + result.dispatch.dropped == 50)
    #expect(result.dispatch.dropped >= 25)  // a call holds the slot for 3.5 arrivals or more
    let calls = result.summary(of: "slow.call")
    #expect(calls.count == UInt64(result.dispatch.sent))
    #expect(calls.errors == calls.count)
    #expect(calls.statuses["UNAVAILABLE"] == calls.count)
  }

  /// Closed model: each user's next journey starts from its last one's completion, after the
  /// think time; every journey is recorded with its call, errors under their status.
  @Test func closedUsersChainTheirJourneysOnTheLoop() async {
    let loop = QueueLoop()
    let calls = Counter()
    let phases = LockedBox<[LoadPhase]>([])
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .closed(users: 3, thinkTime: .milliseconds(1)), warmup: .milliseconds(100), duration: .seconds(1),
        workers: 2, interval: .milliseconds(100)),
      onPhase: { phase in phases.withLock { $0.append(phase) } })
    let inFlight = LockedBox(0)
    let maxInFlight = LockedBox(0)
    let result = await engine.run(journey: "shop", step: "buy", on: loop) { journey in
      let now = inFlight.withLock { $0 += 1; return $0 }
      maxInFlight.withLock { $0 = max($0, now) }
      let n = calls.next()
      loop.schedule(afterNanoseconds: 2_000_000) {
        inFlight.withLock { $0 -= 1 }
        journey.finish(status: n % 4 == 0 ? "SOLD_OUT" : OperationKey.ok)
      }
    }
    let journeys = result.summary(of: "shop")
    #expect(journeys.count > 0)
    #expect(result.summary(of: "shop.buy").count == journeys.count)
    #expect(journeys.errors > 0)
    #expect(journeys.statuses["SOLD_OUT"] == journeys.errors)
    #expect(maxInFlight.withLock { $0 } == 3)  // one journey per user at a time
    #expect(inFlight.withLock { $0 } == 0)  // the run waited for every journey
    #expect(result.dispatch.sent == result.dispatch.offered)
    #expect(phases.withLock { $0 } == [.measuring, .finished])
  }

  /// Cancelling the run stops new journeys at once; the result says it was interrupted.
  @Test func cancellingStopsTheLoopRun() async {
    let loop = QueueLoop()
    let (started, startedContinuation) = AsyncStream<Void>.makeStream()
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .open(OpenModel(rate: 50, spacing: .uniform)), warmup: .zero, duration: .seconds(600), workers: 1))
    let run = Task {
      await engine.run(journey: "long", step: "call", on: loop) { journey in
        startedContinuation.yield()
        loop.schedule(afterNanoseconds: 1_000_000) { journey.finish(status: OperationKey.ok) }
      }
    }
    var iterator = started.makeAsyncIterator()
    _ = await iterator.next()
    run.cancel()
    let result = await run.value
    #expect(result.interrupted)
    #expect(result.dispatch.sent >= 1)
    #expect(result.dispatch.sent < 30_000)  // nowhere near the 10 minutes' worth
  }

  /// With a send quantum, arrivals closer together than it share a wake-up: every one is
  /// still sent, at most one wake-up per quantum. (Arrivals every 5 ms, a 20 ms quantum: about
  /// 50 wake-ups for 200 arrivals, where exact timers take one per arrival.)
  @Test func aSendQuantumGroupsArrivalsIntoSharedWakeUps() async {
    let loop = QueueLoop()
    let sends = LockedBox<[UInt64]>([])
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .open(OpenModel(rate: 200, spacing: .uniform, lateAfter: .seconds(1), sendQuantum: .milliseconds(20))),
        warmup: .zero, duration: .seconds(1), workers: 1))
    let result = await engine.run(journey: "grouped", step: "call", on: loop) { journey in
      sends.withLock { $0.append(journey.sent) }
      loop.schedule(afterNanoseconds: 1_000_000) { journey.finish(status: OperationKey.ok) }
    }
    #expect(result.dispatch.offered == 200)
    #expect(result.dispatch.sent == 200)
    let wakeUps = Set(sends.withLock { $0 })
    #expect(wakeUps.count <= 52)  // one per 20 ms, at most, over 1 s
    let sorted = wakeUps.sorted()
    #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $1 - $0 >= 20_000_000 })
    let journeys = result.summary(of: "grouped")
    #expect(journeys.count == 200)
    #expect(journeys.corrected.mean > journeys.uncorrected.mean)  // the wait is counted
  }

  /// The task engine honours the quantum too: its journeys start in groups.
  @Test func theTaskEngineGroupsArrivalsByTheQuantum() async {
    let starts = LockedBox<[UInt64]>([])
    let clock = SystemLoadClock()
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .open(OpenModel(rate: 200, spacing: .uniform, lateAfter: .seconds(1), sendQuantum: .milliseconds(40))),
        warmup: .zero, duration: .seconds(1), workers: 1),
      clock: clock)
    let result = await engine.run(journey: "grouped") { context in
      try await context.step("call") { starts.withLock { $0.append(clock.now()) } }
    }
    #expect(result.dispatch.sent == 200)
    // A start more than 2.5 ms after the one before begins a new group: with a 40 ms quantum,
    // about 25 groups; with exact timers, one per arrival (5 ms apart), about 200. The bound
    // leaves room for a busy machine spreading a group's starts.
    let sorted = starts.withLock { $0 }.sorted()
    let groups = 1 + zip(sorted, sorted.dropFirst()).filter { $1 - $0 > 2_500_000 }.count
    #expect(groups <= 100)
    #expect(sorted.count == 200)
  }
}
