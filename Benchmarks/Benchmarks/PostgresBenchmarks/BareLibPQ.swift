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
  static func selectOne(url: String, clients: Int, threads: Int, seconds: Int) throws -> Measurement {
    let threads = max(1, min(threads, clients))
    let go = Atomic<Bool>(false)
    let ready = Atomic<Int>(0)
    let failed = Atomic<Bool>(false)
    let counts = Mutex<[Int]>([])
    let end = Mutex<ContinuousClock.Instant>(.now)
    let finished = DispatchGroup()
    for index in 0..<threads {
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
        var count = 0
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
              count += 1
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
        counts.withLock { $0.append(count) }
      }.start()
    }
    while ready.load(ordering: .acquiring) < threads { usleep(1000) }
    guard !failed.load(ordering: .relaxed) else {
      throw NSError(domain: "postgres-bench", code: 3, userInfo: [NSLocalizedDescriptionKey: "bare libpq: could not connect or prepare"])
    }
    let cpuBefore = cpuSeconds(RUSAGE_SELF)
    let start = ContinuousClock.now
    end.withLock { $0 = start + .seconds(seconds) }
    go.store(true, ordering: .releasing)
    finished.wait()
    let elapsed = start.duration(to: .now)
    let cpu = cpuSeconds(RUSAGE_SELF) - cpuBefore
    let done = counts.withLock { $0.reduce(0, +) }
    let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Measurement(tps: Double(done) / elapsedSeconds, cpuMicroseconds: cpu * 1e6 / Double(max(1, done)), allocations: nil)
  }
}
