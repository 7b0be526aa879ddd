import BenchSupport
import Foundation
import PostgresBenchLibPQ
import Synchronization

/// pgbench's own loop, written in Swift straight on libpq: no driver, no pool, no tasks. The
/// floor for a Swift client with pgbench's pattern (the same system calls): it separates what
/// the driver's machinery costs from what the language and libpq cost.
///
/// `threads` threads, each with its share of `clients` connections in non-blocking mode, each
/// connection with one `SELECT 1` (prepared) in flight; a thread `poll()`s its sockets, reads
/// what is ready and sends the next statement on that connection at once, as pgbench does.
enum BareLibPQ {
  /// A thread's count of finished statements, read by the main thread at the window's ends
  /// (one per thread, padded to its own cache line).
  final class Counter: Sendable {
    let value = Atomic<Int>(0)
    let padding: (Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0)
  }

  /// Runs for `warmup` + `seconds`; measures the last `seconds`.
  static func selectOne(url: String, clients: Int, threads: Int, warmup: Int, seconds: Int) throws -> Measurement {
    let threads = max(1, min(threads, clients))
    let go = Atomic<Bool>(false)
    let ready = Atomic<Int>(0)
    let failed = Atomic<Bool>(false)
    let counters = (0..<threads).map { _ in Counter() }
    let end = Mutex<ContinuousClock.Instant>(.now)
    let finished = DispatchGroup()
    for index in 0..<threads {
      let counter = counters[index]
      let share = clients / threads + (index < clients % threads ? 1 : 0)
      finished.enter()
      Thread {
        defer { finished.leave() }
        var connections: [OpaquePointer] = []
        defer { connections.forEach { PQfinish($0) } }
        for _ in 0..<share {
          guard let pg = PQconnectdb(url), PQstatus(pg) == CONNECTION_OK else {
            failed.store(true, ordering: .relaxed)
            ready.add(1, ordering: .releasing)
            return
          }
          connections.append(pg)
          let prepared = PQprepare(pg, "s1", "SELECT 1", 0, nil)
          let ok = PQresultStatus(prepared) == PGRES_COMMAND_OK
          PQclear(prepared)
          guard ok, PQsetnonblocking(pg, 1) == 0 else {
            failed.store(true, ordering: .relaxed)
            ready.add(1, ordering: .releasing)
            return
          }
        }
        ready.add(1, ordering: .releasing)
        while !go.load(ordering: .acquiring) { usleep(100) }
        let until = end.withLock { $0 }
        func send(_ pg: OpaquePointer) -> Bool {
          PQsendQueryPrepared(pg, "s1", 0, nil, nil, nil, 1) == 1 && PQflush(pg) == 0
        }
        var fds = connections.map { pollfd(fd: PQsocket($0), events: Int16(POLLIN), revents: 0) }
        for pg in connections where !send(pg) {
          failed.store(true, ordering: .relaxed)
          return
        }
        while ContinuousClock.now < until {
          guard poll(&fds, nfds_t(fds.count), 100) >= 0 else { continue }
          for slot in fds.indices where fds[slot].revents != 0 {
            let pg = connections[slot]
            guard PQconsumeInput(pg) == 1 else {
              failed.store(true, ordering: .relaxed)
              return
            }
            var done = false
            while PQisBusy(pg) == 0 {
              guard let result = PQgetResult(pg) else {
                done = true
                break
              }
              PQclear(result)
            }
            if done {
              counter.value.add(1, ordering: .relaxed)
              guard send(pg) else {
                failed.store(true, ordering: .relaxed)
                return
              }
            }
          }
        }
        // Drain what is still in flight, so the connections close cleanly.
        for pg in connections {
          _ = PQsetnonblocking(pg, 0)
          while let result = PQgetResult(pg) { PQclear(result) }
        }
      }.start()
    }
    while ready.load(ordering: .acquiring) < threads { usleep(1000) }
    guard !failed.load(ordering: .relaxed) else {
      throw NSError(domain: "postgres-bench", code: 3, userInfo: [NSLocalizedDescriptionKey: "bare libpq: could not connect or prepare"])
    }
    func count() -> Int { counters.reduce(0) { $0 + $1.value.load(ordering: .relaxed) } }
    end.withLock { $0 = .now + .seconds(warmup + seconds) + .milliseconds(200) }
    go.store(true, ordering: .releasing)
    Thread.sleep(forTimeInterval: Double(warmup))
    let cpuBefore = ProcFS.cpuSeconds(pid: getpid()) ?? 0
    let countBefore = count()
    let start = ContinuousClock.now
    Thread.sleep(forTimeInterval: Double(seconds))
    let done = count() - countBefore
    let cpu = (ProcFS.cpuSeconds(pid: getpid()) ?? 0) - cpuBefore
    let elapsed = start.duration(to: .now)
    finished.wait()
    let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Measurement(tps: Double(done) / elapsedSeconds, cpuMicroseconds: cpu * 1e6 / Double(max(1, done)), allocations: nil)
  }
}
