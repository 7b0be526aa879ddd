import Synchronization

/// Items handed to an event loop from any thread, taken by one loop task per batch: the first
/// item after a take is told to schedule that task (`add` returns true), and the items that
/// arrive before it runs go with it. No closure is allocated per item, and the items that
/// arrive while the loop is busy are handled together.
///
/// `spare` keeps the array of the last batch, emptied, for its capacity, so that a steady flow
/// allocates nothing; a rare burst of more than 1,024 items does not keep its memory.
struct LoopHandoff<Item: Sendable>: ~Copyable, Sendable {
  private let state = Mutex<(items: [Item], spare: [Item])>(([], []))

  init() {}

  /// Queues `item`; returns true when the caller must schedule the loop task that takes it.
  func add(_ item: Item) -> Bool {
    state.withLock { state in
      state.items.append(item)
      return state.items.count == 1
    }
  }

  /// Takes everything queued so far, oldest first, and hands the array back emptied after
  /// `body` has handled it.
  func takeAll(_ body: ([Item]) -> Void) {
    var items = state.withLock { state in
      var items = state.spare
      state.spare = []
      swap(&items, &state.items)
      return items
    }
    body(items)
    guard items.capacity <= 1024 else { return }
    items.removeAll(keepingCapacity: true)
    state.withLock { $0.spare = items }
  }
}
