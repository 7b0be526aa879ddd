import NIOCore

/// A call whose deadline a ``DeadlineHeap`` keeps.
protocol DeadlineTracked: AnyObject {
  /// When the call's deadline passes.
  var deadline: NIODeadline { get set }
  /// The call's place in its connection's heap; -1 when it is in none.
  var deadlineSlot: Int { get set }
}

/// The deadlines of one connection's open calls, served by one timer: the connection arms it
/// for the earliest deadline and, when it fires, takes every call whose deadline has passed.
///
/// A timer per call (a NIO scheduled task, scheduled when the call opens and cancelled when it
/// ends) cost each side about a fifth of its CPU per call with a deadline (docs/PERFORMANCE.md,
/// "One timer per connection for deadlines"): the task and its promise are allocated, and
/// cancelling one searches the loop's whole queue of scheduled tasks. Here a call's deadline is
/// an entry in a binary heap of the connection's calls (insertion and removal O(log n), no
/// allocation once the array has grown), and the timer is moved only when a new deadline comes
/// before the armed one. When the earliest call ends, the timer stays armed for its time and, on
/// firing, finds nothing due and re-arms for the new earliest: with one timeout for every call,
/// that is about one wake-up per timeout, not one per call.
///
/// Event-loop confined, like the connection that owns it.
struct DeadlineHeap<Call: DeadlineTracked> {
  private var heap: [Call] = []
  /// The deadline the connection's timer is armed for, and the timer.
  private(set) var armed: (deadline: NIODeadline, timer: Scheduled<Void>)?

  var isEmpty: Bool { heap.isEmpty }
  var count: Int { heap.count }

  /// The earliest deadline of a call in the heap.
  var earliest: NIODeadline? { heap.first?.deadline }

  /// The deadline the timer must be armed for: the earliest one, when no timer is armed or the
  /// armed one fires later. Nil: the armed timer will do.
  var timerNeeded: NIODeadline? {
    guard let earliest else { return nil }
    if let armed, armed.deadline <= earliest { return nil }
    return earliest
  }

  /// Records the timer armed for `deadline`, cancelling the one it replaces.
  mutating func armed(for deadline: NIODeadline, _ timer: Scheduled<Void>) {
    armed?.timer.cancel()
    armed = (deadline, timer)
  }

  /// The timer armed for `deadline` fired: forgets it (unless a newer one replaced it) and
  /// returns the calls whose deadline is at or before `now`, earliest first, out of the heap.
  mutating func fired(for deadline: NIODeadline, now: NIODeadline) -> [Call] {
    if armed?.deadline == deadline { armed = nil }
    var due: [Call] = []
    while let first = heap.first, first.deadline <= now {
      remove(first)
      due.append(first)
    }
    return due
  }

  /// Cancels the timer (the connection is closing).
  mutating func disarm() {
    armed?.timer.cancel()
    armed = nil
  }

  mutating func insert(_ call: Call) {
    precondition(call.deadlineSlot < 0, "a call's deadline is tracked once")
    call.deadlineSlot = heap.count
    heap.append(call)
    siftUp(heap.count - 1)
  }

  /// Takes `call` out of the heap; nothing when it is not in it.
  mutating func remove(_ call: Call) {
    let slot = call.deadlineSlot
    guard slot >= 0, slot < heap.count, heap[slot] === call else { return }
    call.deadlineSlot = -1
    let last = heap.count - 1
    if slot == last {
      heap.removeLast()
      return
    }
    heap[slot] = heap[last]
    heap[slot].deadlineSlot = slot
    heap.removeLast()
    if slot > 0, heap[slot].deadline < heap[(slot - 1) / 2].deadline {
      siftUp(slot)
    } else {
      siftDown(slot)
    }
  }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].deadline < heap[parent].deadline else { return }
      swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(_ start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      guard left < heap.count else { return }
      let right = left + 1
      let smaller = right < heap.count && heap[right].deadline < heap[left].deadline ? right : left
      guard heap[smaller].deadline < heap[parent].deadline else { return }
      swapAt(parent, smaller)
      parent = smaller
    }
  }

  private mutating func swapAt(_ a: Int, _ b: Int) {
    heap.swapAt(a, b)
    heap[a].deadlineSlot = a
    heap[b].deadlineSlot = b
  }
}
