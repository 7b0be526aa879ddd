import Histogram

/// Runs a scenario under a load model and records it.
///
/// The scenario is any async function of a ``JourneyContext``: it times its steps with
/// `context.step(_:_:)`; the engine records the whole journey beside them. Latency is measured
/// from the intended send time (coordinated-omission correction) and, beside it, from the
/// actual send. Journeys intended in the warm-up go into the time series only; journeys
/// intended in the measured window go into the totals too, even when they complete after it
/// (the engine waits for every journey it started: scenarios bound their calls with deadlines).
///
/// Cancelling the calling task stops new journeys; those in flight are cancelled with it.
public struct LoadEngine: Sendable {
  public var configuration: LoadRunConfiguration
  public var clock: any LoadClock
  /// Names the status of a failed step or journey (an RPC status code's name, say).
  public var classify: @Sendable (any Error) -> String
  /// Called at the end of each interval of the time series, from the engine's ticker task.
  public var onInterval: @Sendable (IntervalSnapshot) -> Void
  /// Called when the measured window starts and when it ends (on time, from a task of the
  /// engine's), for whatever must be sampled at those moments (CPU, allocation counts, a
  /// server's counters). Journeys intended in the window may still be in flight at its end.
  public var onPhase: @Sendable (LoadPhase) -> Void

  public init(
    configuration: LoadRunConfiguration, clock: any LoadClock = SystemLoadClock(),
    classify: @escaping @Sendable (any Error) -> String = LoadEngine.defaultClassify,
    onInterval: @escaping @Sendable (IntervalSnapshot) -> Void = { _ in },
    onPhase: @escaping @Sendable (LoadPhase) -> Void = { _ in }
  ) {
    self.configuration = configuration
    self.clock = clock
    self.classify = classify
    self.onInterval = onInterval
    self.onPhase = onPhase
  }

  /// LoadFailure's status; otherwise "ERROR".
  public static let defaultClassify: @Sendable (any Error) -> String = { error in
    if let failure = error as? LoadFailure { return failure.status }
    if error is CancellationError { return "CANCELLED" }
    return "ERROR"
  }

  /// Runs `journey` named `name` under the configured model and returns what was measured.
  public func run(
    journey name: String, _ journey: @escaping @Sendable (JourneyContext) async throws -> Void
  ) async -> LoadResult {
    await measure(journey: name, journey) { runner, counts, start in
      switch configuration.model {
      case .closed(let users, let thinkTime):
        await runClosed(users: users, thinkTime: thinkTime, runner: runner, counts: counts)
      case .open(let model):
        await runOpen(model, start: start, runner: runner, counts: counts)
      }
    }
  }

  /// Runs journeys of one call each under the configured model without a task per journey:
  /// `start` is called on `loop` for each journey and starts its call, whose completion calls
  /// ``LoopJourney/finish(status:)`` on the same loop. The journey is recorded as `name`, its
  /// call as the step "<name>.<step>", with the same corrections as ``run(journey:_:)``.
  ///
  /// For a load generator's fastest path: arrivals, sends, completions and recording all
  /// happen on the loop's one thread, so a journey costs no task, no thread hop and no timer
  /// of its own (docs/LOADGEN.md, "Engines"). Cancelling the calling task stops new journeys;
  /// those in flight end with their calls (which their deadlines bound).
  public func run(
    journey name: String, step: String, on loop: any LoadLoop, _ start: @escaping @Sendable (LoopJourney) -> Void
  ) async -> LoadResult {
    await measure(journey: name, { _ in }) { runner, counts, startTime in
      let driver = LoopDriver(
        loop: loop, model: configuration.model, configuration: configuration, runner: runner, counts: counts,
        start: startTime, step: step, startJourney: start)
      await driver.run()
    }
  }

  private func measure(
    journey name: String, _ journey: @escaping @Sendable (JourneyContext) async throws -> Void,
    dispatch: (JourneyRunner, LockedBox<Counts>, UInt64) async -> Void
  ) async -> LoadResult {
    let recorder = LoadRecorder(shards: configuration.workers)
    let counts = LockedBox(Counts())
    let start = clock.now()
    let warmupEnd = start + configuration.warmup.loadNanoseconds
    let end = warmupEnd + configuration.duration.loadNanoseconds
    let inFlight = InFlightTime(windowStart: warmupEnd, windowEnd: end)
    let runner = JourneyRunner(
      name: name, journey: journey, recorder: recorder, clock: clock, classify: classify, warmupEnd: warmupEnd, end: end,
      inFlight: inFlight)

    let schedule = configuration.schedule
    let intervals = LockedBox<[IntervalStats]>([])
    let interval = max(1_000_000, configuration.interval.loadNanoseconds)
    // Each interval runs from the previous collection to this one (a little after each whole
    // interval since the start), so every call is in exactly one.
    let ticker = Task {
      var index: UInt64 = 1
      var previous = start
      while !Task.isCancelled {
        do { try await clock.sleep(until: start + index * interval) } catch { break }
        let now = clock.now()
        let snapshot = Self.snapshot(
          recorder: recorder, counts: counts, from: previous, to: now, start: start, warmupEnd: warmupEnd,
          schedule: schedule)
        previous = now
        intervals.withLock { $0.append(snapshot.stats) }
        onInterval(snapshot)
        index += 1
      }
      return previous
    }

    // The window's edges: the phase observer, and this process's CPU time inside the window.
    let onPhase = self.onPhase
    let phases = Task { () -> Double? in
      do { try await clock.sleep(until: warmupEnd) } catch { return nil }
      let cpuAtStart = processCPUSeconds()
      onPhase(.measuring)
      do { try await clock.sleep(until: end) } catch { return nil }
      let cpu = processCPUSeconds() - cpuAtStart
      onPhase(.finished)
      return cpu
    }

    await dispatch(runner, counts, start)
    let finished = clock.now()
    let interrupted = Task.isCancelled
    if interrupted { phases.cancel() }
    let windowCPUSeconds = await phases.value
    ticker.cancel()
    let lastCollected = await ticker.value
    let last = Self.snapshot(
      recorder: recorder, counts: counts, from: lastCollected, to: max(finished, lastCollected), start: start,
      warmupEnd: warmupEnd, schedule: schedule)
    if last.stats.offered > 0 || !last.histograms.isEmpty || !last.measuredHistograms.isEmpty {
      intervals.withLock { $0.append(last.stats) }
      onInterval(last)
    }
    let measuredSeconds =
      interrupted ? Double(min(end, max(warmupEnd, finished)) - warmupEnd) / 1e9 : configuration.duration.loadSeconds
    return LoadResult(
      model: configuration.model, warmup: configuration.warmup, duration: configuration.duration,
      elapsedSeconds: Double(finished - start) / 1e9, operations: recorder.totals(),
      workers: recorder.totalsPerWorker(), intervals: intervals.withLock { $0 },
      dispatch: counts.withLock { $0.measured }, recordedOrder: recorder.operationOrder(),
      windowCPUSeconds: windowCPUSeconds,
      measuredSeconds: measuredSeconds, interrupted: interrupted,
      meanInFlight: measuredSeconds > 0 ? Double(inFlight.total) / 1e9 / measuredSeconds : nil)
  }

  struct Counts: Sendable {
    var measured = DispatchCounts()
    var interval = DispatchCounts()

    mutating func offered(measured isMeasured: Bool) {
      interval.offered += 1
      if isMeasured { measured.offered += 1 }
    }

    mutating func sent(late: Bool, measured isMeasured: Bool) {
      interval.sent += 1
      if late { interval.late += 1 }
      if isMeasured {
        measured.sent += 1
        if late { measured.late += 1 }
      }
    }

    mutating func dropped(measured isMeasured: Bool) {
      interval.dropped += 1
      if isMeasured { measured.dropped += 1 }
    }
  }

  private static func snapshot(
    recorder: LoadRecorder, counts: LockedBox<Counts>, from: UInt64, to: UInt64, start: UInt64, warmupEnd: UInt64,
    schedule: ArrivalSchedule?
  ) -> IntervalSnapshot {
    let (histograms, measured) = recorder.takeInterval()
    let dispatch = counts.withLock { counts in
      defer { counts.interval = DispatchCounts() }
      return counts.interval
    }
    var byOperation: [String: (LatencyHistogram, UInt64)] = [:]
    for (key, histogram) in histograms {
      var entry = byOperation[key.operation] ?? (.latency(), 0)
      entry.0.add(histogram)
      if !key.isOK { entry.1 += histogram.totalCount }
      byOperation[key.operation] = entry
    }
    let operations = byOperation.mapValues { histogram, errors in
      IntervalStats.Operation(
        count: histogram.totalCount, errors: errors, p50: milliseconds(histogram.valueAtPercentile(50)),
        p99: milliseconds(histogram.valueAtPercentile(99)), max: milliseconds(histogram.max),
        histogram: HistogramCoding.encodeBase64(histogram))
    }
    let stats = IntervalStats(
      start: Double(from - start) / 1e9, length: Double(to > from ? to - from : 0) / 1e9, warmup: from < warmupEnd,
      offered: dispatch.offered, sent: dispatch.sent, late: dispatch.late, dropped: dispatch.dropped,
      scheduled: schedule?.expectedArrivals(from: from - start, to: max(from, to) - start), operations: operations)
    return IntervalSnapshot(stats: stats, histograms: histograms, measuredHistograms: measured)
  }

  private func runClosed(users: Int, thinkTime: Duration?, runner: JourneyRunner, counts: LockedBox<Counts>) async {
    let think = thinkTime?.loadNanoseconds ?? 0
    await withDiscardingTaskGroup { group in
      for user in 0..<users {
        group.addTask {
          var iteration: UInt64 = 0
          while !Task.isCancelled {
            let intended = runner.clock.now()
            if intended >= runner.end { break }
            let measured = intended >= runner.warmupEnd
            counts.withLock {
              $0.offered(measured: measured)
              $0.sent(late: false, measured: measured)
            }
            await runner.run(
              sequence: iteration &* UInt64(users) &+ UInt64(user), user: user, intended: intended, actual: intended)
            iteration += 1
            if think > 0 {
              do { try await runner.clock.sleep(until: runner.clock.now() + think) } catch { break }
            }
          }
        }
      }
    }
  }

  private func runOpen(_ model: OpenModel, start: UInt64, runner: JourneyRunner, counts: LockedBox<Counts>) async {
    let admission = LockedBox(
      OpenLoopAdmission(
        maxInFlight: model.maxInFlight, maxQueueDelay: model.maxQueueDelay.loadNanoseconds,
        lateAfter: model.lateAfter.loadNanoseconds))
    var schedule = ArrivalSchedule(
      rate: model.rate, rampTo: model.rampTo, spacing: model.spacing, warmup: configuration.warmup.loadNanoseconds,
      duration: configuration.duration.loadNanoseconds, seed: model.seed)
    let clock = self.clock
    let workers = ArrivalWorkers(maxWorkers: model.maxInFlight)
    await withDiscardingTaskGroup { group in
      defer { workers.close() }
      var sequence: UInt64 = 0
      let quantum = model.sendQuantum.loadNanoseconds
      var woke: UInt64 = 0
      dispatch: while let offset = schedule.next() {
        let intended = start + offset
        if quantum == 0 {
          do { try await clock.sleep(until: intended) } catch { break dispatch }
        } else if intended > woke {
          // At most one wake-up per quantum: arrivals due by then go out together.
          do { try await clock.sleep(until: max(intended, woke + quantum)) } catch { break dispatch }
          woke = clock.now()
        } else if Task.isCancelled {
          break dispatch
        }
        let measured = intended >= runner.warmupEnd
        counts.withLock { $0.offered(measured: measured) }
        admit: while true {
          let now = clock.now()
          switch admission.withLock({ $0.admit(intended: intended, now: now) }) {
          case .send(let late):
            counts.withLock { $0.sent(late: late, measured: measured) }
            if workers.submit(.init(sequence: sequence, intended: intended)) {
              group.addTask {
                await workers.work { arrival in
                  await runner.run(
                    sequence: arrival.sequence, user: Int(truncatingIfNeeded: arrival.sequence), intended: arrival.intended,
                    actual: clock.now())
                  admission.withLock { $0.completed() }
                }
              }
            }
            break admit
          case .drop:
            counts.withLock { $0.dropped(measured: measured) }
            break admit
          case .wait:
            // Poll for a free slot; the arrival is dropped once it has waited maxQueueDelay.
            let giveUp = intended + model.maxQueueDelay.loadNanoseconds
            do { try await clock.sleep(until: min(now + 500_000, giveUp)) } catch { break dispatch }
          }
        }
        sequence += 1
      }
    }
  }
}

/// The edges of the measured window.
public enum LoadPhase: Sendable, Hashable {
  /// The warm-up is over: journeys from now on are measured.
  case measuring
  /// The measured window is over: no journey is started any more (those in flight finish).
  case finished
}

/// What every journey task shares: the scenario, the recorder, the clock and the window.
struct JourneyRunner: Sendable {
  let name: String
  let journey: @Sendable (JourneyContext) async throws -> Void
  let recorder: LoadRecorder
  let clock: any LoadClock
  let classify: @Sendable (any Error) -> String
  let warmupEnd: UInt64
  let end: UInt64
  let inFlight: InFlightTime

  /// Runs one journey and records it whole (under the name the scenario left in the context).
  func run(sequence: UInt64, user: Int, intended: UInt64, actual: UInt64) async {
    let measured = intended >= warmupEnd && intended < end
    let context = JourneyContext(
      sequence: sequence, user: user, intendedStart: intended, journey: name, measured: measured, recorder: recorder,
      clock: clock, classify: classify)
    let status: String
    do {
      try await journey(context)
      status = OperationKey.ok
    } catch {
      status = classify(error)
    }
    let finished = clock.now()
    recorder.record(
      worker: Int(truncatingIfNeeded: sequence), key: OperationKey(operation: context.journey, status: status),
      corrected: finished &- intended, uncorrected: finished &- max(actual, intended), measured: measured)
    inFlight.add(from: max(actual, intended), to: finished)
  }
}

func milliseconds(_ micros: UInt64) -> Double { Double(micros) / 1_000 }
