import Synchronization

/// Group commit for work that contends on the same rows: items submitted to one lane while a
/// batch of that lane is in flight wait and form the next batch, which one call executes for
/// all of them.
///
/// - No timer: an item that finds its lane idle runs at once, alone. A batch forms only from
///   items that arrived while the previous batch was in flight, so batching costs nothing
///   without contention and grows with it.
/// - Arrival order: a batch holds its items in the order they were submitted, and `execute`
///   answers them in that order.
/// - No extra task: the first waiter of the next batch executes it (it is handed the batch when
///   the previous one ends), so the lane needs no worker of its own.
/// - Lanes are independent: callers pick a lane per item (InventoryService: by the item's first
///   product), so unrelated work does not queue behind a hot product.
final class Coalescer<Item: Sendable, Answer: Sendable>: Sendable {
  /// Executes one batch and answers each item, in the items' order. Must not throw: an item's
  /// failure is part of its answer.
  typealias Execute = @Sendable ([Item]) async -> [Answer]

  /// Counts of one lane, for tests and benchmarks.
  struct Statistics: Sendable, Equatable {
    /// Batches executed.
    var batches = 0
    /// Items answered.
    var items = 0
    /// The most items one batch held.
    var largestBatch = 0
  }

  private struct Waiter: Sendable {
    var item: Item
    var continuation: CheckedContinuation<Signal, Never>
  }

  private enum Signal: Sendable {
    /// Execute a batch of the waiter's own item followed by these waiters' items.
    case lead([Waiter])
    /// The waiter's answer, from a batch another caller executed.
    case answer(Answer)
  }

  private struct LaneState {
    var busy = false
    var queue: [Waiter] = []
    var statistics = Statistics()
  }

  private final class Lane: Sendable {
    let state = Mutex(LaneState())

    func withLock<R>(_ body: (inout LaneState) -> R) -> R { state.withLock { body(&$0) } }
  }

  private let lanes: [Lane]
  private let execute: Execute
  /// The most items one batch takes from the queue; the rest wait for the next batch.
  let maximumBatch: Int

  init(lanes: Int, maximumBatch: Int, execute: @escaping Execute) {
    precondition(lanes >= 1 && maximumBatch >= 1)
    self.lanes = (0..<lanes).map { _ in Lane() }
    self.maximumBatch = maximumBatch
    self.execute = execute
  }

  var laneCount: Int { lanes.count }

  /// Submits `item` to `lane` (taken modulo the number of lanes) and returns its answer.
  func submit(_ item: Item, lane: Int) async -> Answer {
    let lane = lanes[lane % lanes.count]
    let signal = await withCheckedContinuation { (continuation: CheckedContinuation<Signal, Never>) in
      let leadNow = lane.withLock { state -> Bool in
        if state.busy {
          state.queue.append(Waiter(item: item, continuation: continuation))
          return false
        }
        state.busy = true
        return true
      }
      if leadNow { continuation.resume(returning: .lead([])) }
    }
    switch signal {
    case .answer(let answer):
      return answer
    case .lead(let others):
      let answers = await execute([item] + others.map { $0.item })
      let next = lane.withLock { state -> [Waiter] in
        state.statistics.batches += 1
        state.statistics.items += 1 + others.count
        state.statistics.largestBatch = max(state.statistics.largestBatch, 1 + others.count)
        guard !state.queue.isEmpty else {
          state.busy = false
          return []
        }
        let count = min(maximumBatch, state.queue.count)
        let next = Array(state.queue.prefix(count))
        state.queue.removeFirst(count)
        return next
      }
      // Hand the lane over first, so the next batch starts while these answers travel.
      if let first = next.first { first.continuation.resume(returning: .lead(Array(next.dropFirst()))) }
      for (waiter, answer) in zip(others, answers.dropFirst()) { waiter.continuation.resume(returning: .answer(answer)) }
      return answers[0]
    }
  }

  /// The items waiting in `lane` for the batch in flight to end.
  func queued(lane: Int) -> Int { lanes[lane % lanes.count].withLock { $0.queue.count } }

  /// The counts of `lane`.
  func statistics(lane: Int) -> Statistics { lanes[lane % lanes.count].withLock { $0.statistics } }

  /// The counts of every lane, added up.
  var statistics: Statistics {
    lanes.reduce(into: Statistics()) { total, lane in
      let counts = lane.withLock { $0.statistics }
      total.batches += counts.batches
      total.items += counts.items
      total.largestBatch = max(total.largestBatch, counts.largestBatch)
    }
  }
}
