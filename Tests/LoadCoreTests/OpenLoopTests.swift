import Testing

@testable import LoadCore

@Suite struct OpenLoopTests {
  /// A deterministic clock walk: arrivals every 10 ms, calls that take 35 ms, at most 2 in
  /// flight, a 20 ms queueing allowance, "late" past 1 ms.
  @Test func lateAndDroppedSendsAreCountedAtTheCap() {
    var admission = OpenLoopAdmission(maxInFlight: 2, maxQueueDelay: 20_000_000, lateAfter: 1_000_000)
    var completions: [UInt64] = []  // when each in-flight call ends
    var decisions: [String] = []
    var time: UInt64 = 0
    for arrival in 0..<8 {
      let intended = UInt64(arrival) * 10_000_000
      time = max(time, intended)
      while true {
        // Calls that have ended by now free their slots.
        completions.sort()
        while let first = completions.first, first <= time {
          completions.removeFirst()
          admission.completed()
        }
        switch admission.admit(intended: intended, now: time) {
        case .send(let late):
          decisions.append(late ? "late" : "send")
          completions.append(time + 35_000_000)
        case .drop:
          decisions.append("drop")
        case .wait:
          time = min(completions.min()!, intended + 20_000_000)  // wake at the next completion
          continue
        }
        break
      }
    }
    // Arrival at 0 and 10 ms: sent. 20: waits for the slot freed at 35 (late). 30: waits to 45
    // (late). 40: the next slot frees at 70, but it gives up at 60 (dropped). 50: sent at 70
    // (late). 60: sent at 80 (late). 70: the next slot frees at 105; gives up at 90 (dropped).
    #expect(decisions == ["send", "send", "late", "late", "drop", "late", "late", "drop"])
    #expect(admission.sent == 6)
    #expect(admission.late == 4)
    #expect(admission.dropped == 2)
  }

  @Test func withoutQueueingArrivalsAtTheCapAreDroppedAtOnce() {
    var admission = OpenLoopAdmission(maxInFlight: 1, maxQueueDelay: 0, lateAfter: 1_000_000)
    #expect(admission.admit(intended: 0, now: 0) == .send(late: false))
    #expect(admission.admit(intended: 10, now: 10) == .drop)
    admission.completed()
    #expect(admission.admit(intended: 20, now: 5_000_000) == .send(late: true))
    #expect(admission.dropped == 1)
    #expect(admission.late == 1)
  }

  @Test func uniformScheduleIsEvenlySpacedAndRampsLinearly() {
    var constant = ArrivalSchedule(rate: 100, spacing: .uniform, warmup: 0, duration: 1_000_000_000)
    var times: [UInt64] = []
    while let t = constant.next() { times.append(t) }
    #expect(times.count == 100)
    #expect(times[1] - times[0] == 10_000_000)

    var ramp = ArrivalSchedule(rate: 100, rampTo: 300, spacing: .uniform, warmup: 1_000_000_000, duration: 2_000_000_000)
    var warm = 0, measured = 0
    while let t = ramp.next() { if t < 1_000_000_000 { warm += 1 } else { measured += 1 } }
    #expect(warm == 100)
    // The integral of a 100 -> 300 ramp over 2 s is 400 arrivals (within the stepping error).
    #expect(abs(Double(measured) - ramp.expectedMeasuredArrivals) < 4)
  }

  @Test func poissonScheduleHasTheRateOnAverageAndIsSeeded() {
    func arrivals(seed: UInt64) -> [UInt64] {
      var schedule = ArrivalSchedule(rate: 1_000, spacing: .poisson, warmup: 0, duration: 10_000_000_000, seed: seed)
      var times: [UInt64] = []
      while let t = schedule.next() { times.append(t) }
      return times
    }
    let a = arrivals(seed: 3)
    #expect(a == arrivals(seed: 3))
    #expect(a != arrivals(seed: 4))
    // 10,000 expected; a Poisson count's standard deviation is 100: 5 sigma either side.
    #expect(abs(a.count - 10_000) < 500)
  }
}
