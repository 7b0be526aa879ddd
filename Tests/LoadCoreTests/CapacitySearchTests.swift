import Testing

@testable import LoadCore

/// The capacity search against synthetic systems: closures that say whether a rate passes.
@Suite struct CapacitySearchTests {
  /// Drives the search to its answer; `passes` sees each probe and how many came before it.
  func search(
    _ configuration: CapacitySearch.Configuration = .init(),
    _ passes: (CapacitySearch.Probe, Int) -> Bool
  ) -> (answer: CapacityAnswer, probes: [CapacitySearch.Probe]) {
    var search = CapacitySearch(configuration: configuration)
    var probes: [CapacitySearch.Probe] = []
    while case .measure(let probe) = search.next {
      probes.append(probe)
      search.record(passed: passes(probe, probes.count - 1))
      #expect(probes.count < 100, "the search must end")
      if probes.count >= 100 { break }
    }
    guard case .done(let answer) = search.next else { Issue.record("no answer"); return (search.stopped(), probes) }
    return (answer, probes)
  }

  @Test func stepsUpBisectsAndConfirmsBelowAKnownCapacity() throws {
    let capacity = 437.0
    let (answer, probes) = search { probe, _ in probe.rate <= capacity }
    // Doubling from 10 passes up to 320 and fails at 640 (twice: failures are measured again).
    #expect(Array(probes.prefix(8).map(\.rate)) == [10, 20, 40, 80, 160, 320, 640, 640])
    #expect(probes[7].recheck)
    #expect(probes.map(\.phase).contains(.bisect))
    // The confirmation, then the failing end measured once more: it fails again.
    #expect(probes.suffix(2).map(\.phase) == [.confirm, .verify])
    #expect(probes.last?.rate == answer.lowestFailingAbove)
    #expect(answer.failingEndVerified == true)
    #expect(answer.resumes == 0)
    let rate = try #require(answer.rate)
    #expect(rate <= capacity)
    #expect(rate >= capacity / 1.05)  // within the resolution
    let above = try #require(answer.lowestFailingAbove)
    #expect(above > capacity)
    #expect(try #require(answer.bracketWidth) <= 0.05)
    #expect(answer.confirmationRuns == 1 && answer.failedConfirmations == 0)
    #expect(!answer.reachedMaximum)
    #expect(answer.noisyRates.isEmpty)
    #expect(answer.confidence.contains("the failing end failed again"))
    #expect(answer.confidence.contains("the confirmation run agreed"))
  }

  @Test func withoutRechecksAFailureIsBelievedAtOnce() throws {
    let (answer, probes) = search(.init(recheckFailures: false)) { probe, _ in probe.rate <= 437 }
    #expect(probes.allSatisfy { !$0.recheck })
    #expect(probes.map(\.rate).prefix(8) == [10, 20, 40, 80, 160, 320, 640, (320 * 640).squareRoot()])
    #expect(try #require(answer.rate) >= 437 / 1.05)
  }

  @Test func aFailureThatDoesNotRepeatIsNoiseAndTheSearchGoesOn() throws {
    // 40/s fails once (a pause of the machine), passes when measured again.
    let (answer, probes) = search { probe, index in
      if probe.rate == 40 && !probe.recheck { return false }
      return probe.rate <= 437
    }
    #expect(probes[2] == .init(rate: 40, phase: .stepUp))
    #expect(probes[3] == .init(rate: 40, phase: .stepUp, recheck: true))
    #expect(probes[4].rate == 80)
    #expect(try #require(answer.rate) >= 437 / 1.05)
    #expect(answer.noisyRates == [40])
    #expect(answer.confidence.contains("1 rate(s) failed and later passed (40/s)"))
  }

  @Test func aFirstRateThatFailsStepsDown() throws {
    let (answer, probes) = search(.init(startRate: 100)) { probe, _ in probe.rate <= 30 }
    #expect(probes.map(\.rate).prefix(6) == [100, 100, 50, 50, 25, (25 * 50).squareRoot()])
    #expect(probes[2].phase == .stepDown)
    let rate = try #require(answer.rate)
    #expect(rate <= 30 && rate >= 30 / 1.05)
  }

  @Test func whenNothingPassesDownToTheMinimumThereIsNoAnswer() {
    let (answer, probes) = search(.init(startRate: 8, minRate: 1, recheckFailures: false)) { _, _ in false }
    #expect(probes.map(\.rate) == [8, 4, 2, 1])
    #expect(answer.rate == nil)
    #expect(answer.confirmationRuns == 0)
    #expect(answer.confidence == "no rate met the objective, down to 1/s")
  }

  @Test func neverFailingUpToTheMaximumAnswersTheMaximum() throws {
    let (answer, probes) = search(.init(startRate: 10, maxRate: 1_000)) { _, _ in true }
    #expect(probes.map(\.rate) == [10, 20, 40, 80, 160, 320, 640, 1_000, 1_000])
    #expect(probes.last?.phase == .confirm)
    #expect(answer.rate == 1_000)
    #expect(answer.reachedMaximum)
    #expect(answer.lowestFailingAbove == nil)
    #expect(answer.confidence.hasPrefix("met at the maximum rate: the capacity is at least 1000/s"))
  }

  @Test func aFailedConfirmationStepsDownAndSaysSo() throws {
    // Short steps pass up to 437/s; the longer confirmation only holds up to 400/s.
    let (answer, probes) = search { probe, _ in probe.rate <= (probe.phase == .confirm ? 400 : 437) }
    let confirmations = probes.filter { $0.phase == .confirm }
    #expect(confirmations.count == 2)
    #expect(probes.last?.phase == .verify)  // the search's failing end, above both
    #expect(abs(confirmations[1].rate - confirmations[0].rate * 0.9) < 1e-9)
    let rate = try #require(answer.rate)
    #expect(rate == confirmations[1].rate)
    #expect(rate <= 400)
    #expect(answer.failedConfirmations == 1 && answer.failedConfirmationsAbove == 1)
    #expect(answer.lowestFailingAbove == confirmations[0].rate)  // the failed confirmation
    #expect(answer.confidence.contains("1 confirmation run(s) failed"))
  }

  @Test func whenEveryConfirmationFailsThereIsNoAnswer() {
    let (answer, probes) = search(.init(confirmations: 3)) { probe, _ in
      probe.phase != .confirm && probe.rate <= 437
    }
    let confirmations = probes.filter { $0.phase == .confirm }.map(\.rate)
    #expect(confirmations.count == 3)
    // Each failed confirmation steps down further: 10%, then 20%.
    #expect(abs(confirmations[1] - confirmations[0] * 0.9) < 1e-9)
    #expect(abs(confirmations[2] - confirmations[1] * 0.8) < 1e-9)
    #expect(answer.rate == nil)
    #expect(answer.highestPassing != nil)
    #expect(answer.confidence.hasPrefix("no confirmation run met the objective (3 failed"))
  }

  @Test func aNoisySystemStillEndsWithAConfirmedRateInsideItsNoisyBand() throws {
    // Below 300/s always passes, above 500/s always fails; in between a deterministic coin.
    for seed: UInt64 in 1...20 {
      var random = SplitMix64(seed: seed)
      let (answer, probes) = search { probe, _ in
        if probe.rate < 300 { return true }
        if probe.rate > 500 { return false }
        return random.next() % 2 == 0
      }
      #expect(probes.count <= 40)
      if let rate = answer.rate {
        #expect(rate <= 500)
        // The confirmed rate passed its confirmation, the last confirmation run.
        #expect(probes.last { $0.phase == .confirm } == .init(rate: rate, phase: .confirm))
        if let above = answer.lowestFailingAbove { #expect(above > rate) }
      } else {
        // Only when every confirmation fell into the noisy band, each 10% lower, from above 300.
        #expect(probes.filter { $0.phase == .confirm }.allSatisfy { $0.rate >= 300 })
      }
    }
  }

  @Test func aStallEarlyInTheSearchIsOutgrownWhenTheFailingEndPassesLater() throws {
    // The first six measurements fall into a stall (everything fails); then the system
    // passes up to 437/s. The search steps down to 6.25/s, bisects to 12/s and confirms it;
    // measured again, 12.5/s passes now, so the search forgets the stalled failures and
    // steps up again from there.
    let (answer, probes) = search(.init(startRate: 50)) { probe, index in
      index >= 6 && probe.rate <= 437
    }
    #expect(probes.prefix(7).map(\.rate) == [50, 50, 25, 25, 12.5, 12.5, 6.25])
    let verify = try #require(probes.first { $0.phase == .verify })
    #expect(verify.rate == 12.5)
    #expect(answer.resumes == 1)
    #expect(answer.noisyRates.contains(12.5))
    let rate = try #require(answer.rate)
    #expect(rate <= 437 && rate >= 437 / 1.05)
    #expect(answer.failingEndVerified == true)
    #expect(answer.confidence.contains("1 time(s) a failing end passed when measured again"))
  }

  @Test func aRateConfirmedBeforeTheSearchWentOnStaysTheAnswerWhenNothingAboveItIsConfirmed() throws {
    // Search steps pass up to 45,000/s, confirmations only up to 32,000/s, and the failing end
    // always passes when measured again (its failure looked like a stall): the search goes on
    // from it, and every confirmation of the resumed search fails. Seen on a busy machine,
    // where the second of two identical searches answered "no rate met" after confirming
    // 31,202/s.
    let (answer, probes) = search { probe, _ in
      switch probe.phase {
      case .verify: true
      case .confirm: probe.rate <= 32_000
      default: probe.rate <= 45_000
      }
    }
    #expect(answer.resumes == 1)
    let confirmedBefore = try #require(
      probes.firstIndex { $0.phase == .verify }.flatMap { verify in
        probes[..<verify].last { $0.phase == .confirm }?.rate
      })
    #expect(confirmedBefore <= 32_000)
    #expect(answer.rate == confirmedBefore)
    // The resumed search confirmed nothing: each of its confirmations failed above the answer.
    let resumedConfirmations = probes.drop { $0.phase != .verify }.filter { $0.phase == .confirm }
    #expect(!resumedConfirmations.isEmpty)
    #expect(resumedConfirmations.allSatisfy { $0.rate > confirmedBefore })
  }

  @Test func resumptionsAreBounded() throws {
    // The failing end always passes when verified: the search goes on twice, then answers
    // with its confirmed rate and says the capacity may be higher.
    let (answer, probes) = search(.init(maxResumes: 2)) { probe, _ in
      probe.phase == .verify || probe.rate <= 437
    }
    #expect(probes.filter { $0.phase == .verify }.count == 3)
    #expect(answer.resumes == 2)
    #expect(answer.failingEndVerified == false)
    #expect(answer.rate != nil)
    #expect(answer.confidence.contains("the capacity may be higher"))
  }

  @Test func runDrivesTheSearchAndStopsWhenTheMeasurerDoes() async throws {
    let answer = await CapacitySearch.run(.init(startRate: 10, maxRate: 80)) { probe in probe.rate <= 50 }
    #expect(try #require(answer.rate) <= 50)
    #expect(!answer.stopped)
    let stopped = await CapacitySearch.run(.init()) { probe in probe.rate < 30 ? true : nil }
    #expect(stopped.stopped)
    #expect(stopped.rate == nil)
    #expect(stopped.observations.map(\.rate) == [10, 20])
    #expect(stopped.confidence == "the search was stopped before it answered")
  }

  @Test func configurationProblemsAreNamed() {
    #expect(CapacitySearch.Configuration().problem == nil)
    #expect(CapacitySearch.Configuration(startRate: 5, minRate: 10).problem != nil)
    #expect(CapacitySearch.Configuration(stepFactor: 1).problem != nil)
    #expect(CapacitySearch.Configuration(resolution: 0).problem != nil)
  }
}
