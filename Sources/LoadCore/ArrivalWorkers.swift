/// The open model's workers: long-lived tasks that run admitted arrivals, started only as the
/// load needs them and never more than the admission's cap.
///
/// Starting every arrival as a child task of one task group made each completion cost in
/// proportion to the journeys in flight (the runtime walks the group's children to remove a
/// finished one: 30% of loadgen's CPU at 30,000 arrivals/s, docs/PERFORMANCE.md). Here an
/// arrival goes to an idle worker's continuation, or, when none is idle, into a queue that a
/// worker started for it takes it from; a worker that finishes a journey takes the next
/// queued arrival or waits idle. The most recently idle worker is woken first, so the set of
/// busy workers stays as small as the load allows.
final class ArrivalWorkers: Sendable {
  /// One admitted arrival.
  struct Arrival: Sendable {
    var sequence: UInt64
    var intended: UInt64
  }

  private struct State {
    var queue: [Arrival] = []
    var head = 0
    var idle: [CheckedContinuation<Arrival?, Never>] = []
    var workers = 0
    var closed = false

    mutating func dequeue() -> Arrival? {
      guard head < queue.count else { return nil }
      let arrival = queue[head]
      head += 1
      if head == queue.count {
        queue.removeAll(keepingCapacity: true)
        head = 0
      }
      return arrival
    }
  }

  /// The most workers ever started.
  let maxWorkers: Int
  private let state = LockedBox(State())

  init(maxWorkers: Int) {
    precondition(maxWorkers > 0, "maxWorkers must be positive")
    self.maxWorkers = maxWorkers
  }

  /// Hands `arrival` to an idle worker, or queues it. Returns true when the caller must start
  /// a new worker (``work(_:)``) to take it: no worker was idle and fewer than `maxWorkers` run.
  func submit(_ arrival: Arrival) -> Bool {
    enum Outcome { case resume(CheckedContinuation<Arrival?, Never>), queued(startWorker: Bool) }
    let outcome: Outcome = state.withLock { state in
      precondition(!state.closed, "submit after close")
      if let waiting = state.idle.popLast() { return .resume(waiting) }
      state.queue.append(arrival)
      guard state.workers < maxWorkers else { return .queued(startWorker: false) }
      state.workers += 1
      return .queued(startWorker: true)
    }
    switch outcome {
    case .resume(let waiting):
      waiting.resume(returning: arrival)
      return false
    case .queued(let startWorker):
      return startWorker
    }
  }

  /// A worker's loop: runs `body` for each arrival it takes, until ``close()`` and the queue is
  /// empty.
  func work(_ body: (Arrival) async -> Void) async {
    while let arrival = await next() {
      await body(arrival)
    }
  }

  /// No more arrivals: idle workers end, busy ones end once the queue is drained.
  func close() {
    let waiting = state.withLock { state in
      state.closed = true
      defer { state.idle.removeAll() }
      return state.idle
    }
    for worker in waiting { worker.resume(returning: nil) }
  }

  /// How many workers were started (for tests).
  var startedWorkers: Int { state.withLock { $0.workers } }

  /// How many workers wait for an arrival (for tests).
  var idleWorkers: Int { state.withLock { $0.idle.count } }

  private func next() async -> Arrival? {
    if let queued = state.withLock({ $0.dequeue() }) { return queued }
    return await withCheckedContinuation { continuation in
      let ready: Arrival?? = state.withLock { state in
        if let queued = state.dequeue() { return .some(queued) }
        if state.closed { return .some(nil) }
        state.idle.append(continuation)
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
  }
}
