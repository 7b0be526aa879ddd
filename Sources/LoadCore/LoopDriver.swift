/// One thread with timers, on which ``LoadEngine/run(journey:step:on:_:)`` runs its journeys:
/// loadgen adapts a SwiftNIO event loop (the one its connections read on).
public protocol LoadLoop: Sendable {
  /// Whether the calling thread is the loop's.
  var isCurrent: Bool { get }
  /// Runs `work` on the loop (from any thread).
  func execute(_ work: @escaping @Sendable () -> Void)
  /// Runs `work` on the loop `nanoseconds` from now.
  func schedule(afterNanoseconds nanoseconds: UInt64, _ work: @escaping @Sendable () -> Void)
}

/// One journey of ``LoadEngine/run(journey:step:on:_:)``: its call is started by the engine's
/// `start`, and its completion calls ``finish(status:)`` once, on the loop.
public struct LoopJourney: Sendable {
  /// The arrival's number (open model), or a number unique to this user's iteration (closed).
  public let sequence: UInt64
  /// When the journey was meant to start, in the clock's nanoseconds.
  public let intendedStart: UInt64
  /// Which of several connections the journey's call should take, modulo their count: the
  /// same for every arrival one wake-up of the open model sends, and for every journey of one
  /// closed-model user. Calls that go out together then share a connection, so their requests
  /// leave in one write and their answers come back in one read, on either side, instead of one
  /// per connection.
  public let lane: UInt64
  let sent: UInt64
  let user: Int
  let driver: LoopDriver

  /// Records the journey and its call with `status` (``OperationKey/ok`` or an error's name)
  /// and frees its place for the next. Call it once, on the loop.
  public func finish(status: String) {
    driver.finished(self, status: status)
  }
}

/// Runs the engine's models on one ``LoadLoop``: every piece of its state is touched only on
/// the loop's thread (hence unchecked Sendable), so no lock guards it.
///
/// Open model: the driver takes the schedule's arrivals in order; each due arrival is admitted
/// (sent, or dropped at the concurrency cap) exactly as the task engine admits it. When the
/// next arrival lies in the future, one timer is armed for it; arrivals that are due by the
/// time the loop gets round to them (at high rates, several per wake-up) are sent in one go,
/// so the sends' writes share one flush; with a send quantum, the timer is armed no sooner than
/// a quantum after this wake-up (``OpenModel/sendQuantum``). An arrival that finds every slot taken waits for the
/// next completion, or a 0.5 ms poll, until it is `maxQueueDelay` late and dropped.
/// Closed model: each user starts its next journey from its last one's completion (after the
/// think time, on a timer).
///
/// The hot properties skip the runtime's dynamic exclusivity checks (`@exclusivity(unchecked)`):
/// they are touched on the loop only, and no access is held across a call out of the driver.
final class LoopDriver: @unchecked Sendable {
  private let loop: any LoadLoop
  private let model: LoadModel
  private let runner: JourneyRunner
  private let counts: LockedBox<LoadEngine.Counts>
  private let start: UInt64
  private let startJourney: @Sendable (LoopJourney) -> Void
  private let stepOperation: String

  private var schedule: ArrivalSchedule?
  @exclusivity(unchecked) private var admission: OpenLoopAdmission?
  private var maxQueueDelay: UInt64 = 0
  private var quantum: UInt64 = 0
  /// The next arrival's intended time, once taken from the schedule; whether it was offered.
  @exclusivity(unchecked) private var pending: (intended: UInt64, offered: Bool)?
  @exclusivity(unchecked) private var sequence: UInt64 = 0
  /// The open model's wake-ups so far: the lane of the arrivals each sends.
  @exclusivity(unchecked) private var wakeUps: UInt64 = 0
  /// The earliest armed timer's deadline (later timers may fire too: a tick is idempotent).
  @exclusivity(unchecked) private var armedFor: UInt64?
  @exclusivity(unchecked) private var waitingForSlot = false
  private var dispatching = true
  @exclusivity(unchecked) private var inFlight = 0
  private var stopped = false
  private var done: CheckedContinuation<Void, Never>?

  // Closed model.
  private var users = 0
  private var think: UInt64 = 0
  @exclusivity(unchecked) private var iterations: [UInt64] = []
  /// Users between a journey and their next, on a think-time timer.
  private var thinking = 0

  init(
    loop: any LoadLoop, model: LoadModel, configuration: LoadRunConfiguration, runner: JourneyRunner,
    counts: LockedBox<LoadEngine.Counts>, start: UInt64, step: String,
    startJourney: @escaping @Sendable (LoopJourney) -> Void
  ) {
    self.loop = loop
    self.model = model
    self.runner = runner
    self.counts = counts
    self.start = start
    self.startJourney = startJourney
    self.stepOperation = runner.name + "." + step
    switch model {
    case .open(let open):
      schedule = ArrivalSchedule(
        rate: open.rate, rampTo: open.rampTo, spacing: open.spacing, warmup: configuration.warmup.loadNanoseconds,
        duration: configuration.duration.loadNanoseconds, seed: open.seed)
      admission = OpenLoopAdmission(
        maxInFlight: open.maxInFlight, maxQueueDelay: open.maxQueueDelay.loadNanoseconds,
        lateAfter: open.lateAfter.loadNanoseconds)
      maxQueueDelay = open.maxQueueDelay.loadNanoseconds
      quantum = open.sendQuantum.loadNanoseconds
    case .closed(let users, let thinkTime):
      self.users = users
      think = thinkTime?.loadNanoseconds ?? 0
      iterations = Array(repeating: 0, count: users)
    }
  }

  /// Runs the model to its end: returns once no journey is in flight and none will start.
  func run() async {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        loop.execute {
          self.done = continuation
          self.begin()
        }
      }
    } onCancel: {
      loop.execute { self.stop() }
    }
  }

  private func begin() {
    guard !stopped else {
      endIfDone()  // cancelled before it began
      return
    }
    if schedule != nil {
      tick()
    } else {
      for user in 0..<users { nextIteration(of: user) }
      dispatching = false
      endIfDone()
    }
  }

  private func stop() {
    guard !stopped else { return }
    stopped = true
    dispatching = false
    endIfDone()
  }

  private func endIfDone() {
    guard !dispatching || stopped, inFlight == 0, thinking == 0, let done else { return }
    self.done = nil
    done.resume()
  }

  // MARK: Open model

  /// Sends every arrival that is due, then arms a timer for the next one.
  private func tick() {
    guard !stopped, schedule != nil else { return }
    wakeUps &+= 1
    let now = runner.clock.now()
    while true {
      if pending == nil {
        guard let offset = schedule!.next() else {
          dispatching = false
          endIfDone()
          return
        }
        pending = (start + offset, false)
      }
      let intended = pending!.intended
      if intended > now {
        arm(at: max(intended, now + quantum), now: now)
        return
      }
      let measured = intended >= runner.warmupEnd
      if !pending!.offered {
        pending!.offered = true
        counts.withLock { $0.offered(measured: measured) }
      }
      switch admission!.admit(intended: intended, now: now) {
      case .send(let late):
        counts.withLock { $0.sent(late: late, measured: measured) }
        pending = nil
        let number = sequence
        sequence += 1
        launch(sequence: number, user: Int(truncatingIfNeeded: number), intended: intended, sent: now, lane: wakeUps)
      case .drop:
        counts.withLock { $0.dropped(measured: measured) }
        pending = nil
        sequence += 1
      case .wait:
        // A completion frees a slot (and ticks); the poll catches the give-up time.
        waitingForSlot = true
        arm(at: min(now + 500_000, intended + maxQueueDelay), now: now)
        return
      }
    }
  }

  private func arm(at deadline: UInt64, now: UInt64) {
    if let armedFor, armedFor <= deadline { return }
    armedFor = deadline
    loop.schedule(afterNanoseconds: deadline > now ? deadline - now : 0) {
      if self.armedFor == deadline { self.armedFor = nil }
      self.tick()
    }
  }

  // MARK: Closed model

  private func nextIteration(of user: Int) {
    guard !stopped else { return }
    let intended = runner.clock.now()
    guard intended < runner.end else { return }
    let measured = intended >= runner.warmupEnd
    counts.withLock {
      $0.offered(measured: measured)
      $0.sent(late: false, measured: measured)
    }
    let iteration = iterations[user]
    iterations[user] += 1
    launch(
      sequence: iteration &* UInt64(users) &+ UInt64(user), user: user, intended: intended, sent: intended,
      lane: UInt64(user))
  }

  // MARK: Journeys

  private func launch(sequence: UInt64, user: Int, intended: UInt64, sent: UInt64, lane: UInt64) {
    inFlight += 1
    startJourney(
      LoopJourney(sequence: sequence, intendedStart: intended, lane: lane, sent: sent, user: user, driver: self))
  }

  func finished(_ journey: LoopJourney, status: String) {
    guard loop.isCurrent else {
      loop.execute { self.finished(journey, status: status) }
      return
    }
    let end = runner.clock.now()
    let intended = journey.intendedStart
    let measured = intended >= runner.warmupEnd && intended < runner.end
    let from = max(journey.sent, intended)
    let worker = Int(truncatingIfNeeded: journey.sequence)
    // One call: the step's corrected latency starts at the intended time too (as a journey's
    // first step does in the task engine).
    runner.recorder.record(
      worker: worker, key: OperationKey(operation: stepOperation, status: status), corrected: end &- intended,
      uncorrected: end &- from, measured: measured)
    runner.recorder.record(
      worker: worker, key: OperationKey(operation: runner.name, status: status), corrected: end &- intended,
      uncorrected: end &- from, measured: measured)
    runner.inFlight.add(from: from, to: end)
    inFlight -= 1
    if schedule != nil {
      admission!.completed()
      if waitingForSlot {
        waitingForSlot = false
        tick()
      }
    } else if !stopped {
      if think > 0 {
        thinking += 1
        loop.schedule(afterNanoseconds: think) {
          self.thinking -= 1
          self.nextIteration(of: journey.user)
          self.endIfDone()
        }
      } else {
        nextIteration(of: journey.user)
      }
    }
    endIfDone()
  }
}
