import Synchronization
import Testing

@testable import LoadCore

@Suite("ArrivalWorkers: the open model's long-lived workers")
struct ArrivalWorkersTests {
  /// Counts journeys and how many ran at once; journeys wait until the gate opens.
  final class Journeys: Sendable {
    private let state = Mutex<(running: Int, peak: Int, done: [UInt64], open: Bool, waiting: [CheckedContinuation<Void, Never>])>(
      (0, 0, [], false, []))

    func run(_ arrival: ArrivalWorkers.Arrival) async {
      state.withLock {
        $0.running += 1
        $0.peak = max($0.peak, $0.running)
      }
      await withCheckedContinuation { continuation in
        let open = state.withLock { state in
          if !state.open { state.waiting.append(continuation) }
          return state.open
        }
        if open { continuation.resume() }
      }
      state.withLock {
        $0.running -= 1
        $0.done.append(arrival.sequence)
      }
    }

    func openGate() {
      let waiting = state.withLock { state in
        state.open = true
        defer { state.waiting.removeAll() }
        return state.waiting
      }
      for continuation in waiting { continuation.resume() }
    }

    var running: Int { state.withLock { $0.running } }
    var peak: Int { state.withLock { $0.peak } }
    var done: [UInt64] { state.withLock { $0.done } }
  }

  @Test("one worker takes every arrival in order when the cap is one")
  func oneWorker() async {
    let workers = ArrivalWorkers(maxWorkers: 1)
    let journeys = Journeys()
    journeys.openGate()
    await withDiscardingTaskGroup { group in
      for sequence in 0..<100 as Range<UInt64> {
        if workers.submit(.init(sequence: sequence, intended: sequence)) {
          group.addTask { await workers.work { await journeys.run($0) } }
        }
      }
      workers.close()
    }
    #expect(journeys.done == Array(0..<100))
    #expect(workers.startedWorkers == 1)
  }

  @Test("no more workers than the cap run at once; queued arrivals run when a worker frees; close ends every worker")
  func cap() async {
    let workers = ArrivalWorkers(maxWorkers: 4)
    let journeys = Journeys()
    await withDiscardingTaskGroup { group in
      for sequence in 0..<10 as Range<UInt64> {
        if workers.submit(.init(sequence: sequence, intended: sequence)) {
          group.addTask { await workers.work { await journeys.run($0) } }
        }
      }
      #expect(workers.startedWorkers == 4)
      // Four journeys hold the four workers; the other six wait in the queue.
      while journeys.running < 4 { await Task.yield() }
      #expect(journeys.done.isEmpty)
      journeys.openGate()
      workers.close()
    }
    #expect(Set(journeys.done) == Set(0..<10))
    #expect(journeys.done.count == 10)
    #expect(journeys.peak == 4)
    #expect(workers.startedWorkers == 4)
  }

  @Test("an idle worker is reused before a new one is started")
  func reuse() async {
    let workers = ArrivalWorkers(maxWorkers: 8)
    let journeys = Journeys()
    journeys.openGate()
    await withDiscardingTaskGroup { group in
      var sequence: UInt64 = 0
      func submit() {
        if workers.submit(.init(sequence: sequence, intended: sequence)) {
          group.addTask { await workers.work { await journeys.run($0) } }
        }
        sequence += 1
      }
      submit()
      // Wait until the first journey is done and its worker is idle again.
      while !(journeys.done.count == 1 && workers.idleWorkers == 1) { await Task.yield() }
      for _ in 0..<20 {
        let before = journeys.done.count
        submit()
        while journeys.done.count == before || workers.idleWorkers != 1 { await Task.yield() }
      }
      workers.close()
    }
    #expect(journeys.done.count == 21)
    #expect(workers.startedWorkers == 1)
  }
}
