import NIOCore
import NIOEmbedded
import Testing

@testable import RPC

/// A call with a deadline, for the heap alone.
private final class Tracked: DeadlineTracked {
  let name: Int
  var deadline: NIODeadline
  var deadlineSlot = -1

  init(_ name: Int, at nanoseconds: Int64) {
    self.name = name
    deadline = .uptimeNanoseconds(UInt64(nanoseconds))
  }
}

@Suite("One timer per connection for the calls' deadlines")
struct DeadlineHeapTests {
  @Test("the heap gives back exactly the calls that are due, earliest first, whatever ended before")
  func dueCallsInOrder() {
    var generator = SystemRandomNumberGenerator()
    var heap = DeadlineHeap<Tracked>()
    let calls = (0..<500).map { Tracked($0, at: Int64.random(in: 1_000...1_000_000, using: &generator)) }
    for call in calls { heap.insert(call) }
    #expect(heap.count == 500)
    #expect(heap.earliest == calls.map(\.deadline).min())
    // A third of the calls end before their deadline.
    let ended = calls.filter { $0.name % 3 == 0 }
    for call in ended { heap.remove(call) }
    for call in ended { heap.remove(call) }  // ending twice is harmless
    #expect(heap.count == 500 - ended.count)
    #expect(ended.allSatisfy { $0.deadlineSlot == -1 })

    let now = NIODeadline.uptimeNanoseconds(500_000)
    let due = heap.fired(for: now, now: now)
    let expected = calls.filter { $0.name % 3 != 0 && $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
    #expect(due.map(\.name) == expected.map(\.name))
    #expect(heap.count == 500 - ended.count - due.count)
    #expect(heap.earliest.map { $0 > now } ?? true)
    let rest = heap.fired(for: .uptimeNanoseconds(2_000_000), now: .uptimeNanoseconds(2_000_000))
    #expect(rest.count == 500 - ended.count - due.count)
    #expect(heap.isEmpty)
  }

  @Test("the timer is moved only for a deadline before the armed one")
  func timerMovesOnlyForEarlierDeadlines() throws {
    let loop = EmbeddedEventLoop()
    var heap = DeadlineHeap<Tracked>()
    #expect(heap.timerNeeded == nil)  // no calls, no timer
    let late = Tracked(1, at: 30_000_000_000)
    heap.insert(late)
    let first = try #require(heap.timerNeeded)
    #expect(first == late.deadline)
    heap.armed(for: first, loop.scheduleTask(deadline: first) {})
    heap.insert(Tracked(2, at: 40_000_000_000))
    #expect(heap.timerNeeded == nil)  // a later deadline: the armed timer will do
    let soon = Tracked(3, at: 100_000_000)
    heap.insert(soon)
    #expect(heap.timerNeeded == soon.deadline)  // an earlier one: re-arm
    heap.armed(for: soon.deadline, loop.scheduleTask(deadline: soon.deadline) {})
    heap.remove(soon)
    #expect(heap.timerNeeded == nil)  // the armed timer fires early and finds nothing due
    #expect(heap.fired(for: soon.deadline, now: soon.deadline).isEmpty)
    #expect(heap.timerNeeded == late.deadline)  // ...and is re-armed for the earliest left
    try loop.syncShutdownGracefully()
  }
}
