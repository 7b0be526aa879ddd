import CLibPQ
import Foundation
import Synchronization

/// A thread that drives many connections: it `poll()`s their sockets and a wake-up pipe, sends
/// what callers queued, reads results and resumes the callers.
///
/// The loop connects each connection, waits for its socket and reads its results. Statements
/// are sent either by the loop or, when the connection is not busy, by the thread that queued
/// them, with libpq's non-blocking calls only (`PQsendQueryPrepared`, `PQflush`), under the
/// connection's lock. `PQcancel`, which blocks while it connects to the server, runs on a
/// short-lived thread of its own. No blocking libpq call ever runs on Swift's cooperative pool or
/// a SwiftNIO event loop. One thread serves many connections so that, under load, one wake-up
/// handles the results of many connections.
///
/// The loops are process-wide (``next()``), started on first use and never stopped; an idle loop
/// sleeps in `poll()` without a timeout. The number of loops is one per two processor cores
/// (at least one, at most four), or the environment variable `EMPORIUM_PG_IO_THREADS` (at most
/// 16).
///
/// `@unchecked Sendable`: ``drivers`` is touched only by the loop's own thread (a driver's state
/// is guarded by the driver's own lock); other threads reach the loop only through
/// ``schedule(_:)``, which goes through the ``shared`` mutex, and the wake-up pipe.
final class PostgresEventLoop: TaskExecutor, @unchecked Sendable {
  private struct Shared {
    /// Drivers with queued work (new requests, cancels, a close, or a new connection).
    var scheduled: [ConnectionDriver] = []
    /// True while the thread is in `poll()` or about to enter it.
    var sleeping = false
    /// True when a byte is in the pipe and not yet drained.
    var wakePending = false
    /// Jobs of tasks that prefer this loop as their executor.
    var jobs: [UnownedJob] = []
  }

  private let shared = Mutex(Shared())
  private let wakeRead: Int32
  private let wakeWrite: Int32
  private let name: String

  /// The drivers the loop watches (each once: ``ConnectionDriver/isWatched``). Loop-thread only.
  private var drivers: [ConnectionDriver] = []
  /// The loop thread's `pthread_self()`, set when it starts.
  private let threadID = Atomic<UInt>(0)

  /// True on the loop's own thread.
  var isCurrentThread: Bool {
    self.threadID.load(ordering: .relaxed) == UInt(pthread_self())
  }

  private static let loops: [PostgresEventLoop] = {
    let configured = ProcessInfo.processInfo.environment["EMPORIUM_PG_IO_THREADS"].flatMap {
      Int($0)
    }
    let count = max(1, min(configured ?? min(ProcessInfo.processInfo.activeProcessorCount / 2, 4), 16))
    return (0..<count).map { PostgresEventLoop(name: "emporium-pgio\($0)") }
  }()
  private static let nextIndex = Atomic<Int>(0)

  /// The next loop, round robin.
  static func next() -> PostgresEventLoop {
    let index = Self.nextIndex.add(1, ordering: .relaxed).oldValue
    return Self.loops[index % Self.loops.count]
  }

  private init(name: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else {
      fatalError("emporium: could not create the PostgreSQL I/O thread's wake-up pipe")
    }
    for fd in fds {
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    self.wakeRead = fds[0]
    self.wakeWrite = fds[1]
    self.name = name
    let thread = Thread { [unowned self] in self.run() }
    thread.name = name
    thread.start()
  }

  /// Asks the loop to service `driver` soon (from any thread). The caller has recorded, under the
  /// connection's lock, that the driver is scheduled, so each driver is in the list once.
  func schedule(_ driver: ConnectionDriver) {
    self.submit { $0.scheduled.append(driver) }
  }

  /// Runs a job of a task that prefers this loop (`withTaskExecutorPreference`): such a task is
  /// resumed on the loop's thread right after its result is read, without waking another
  /// thread, and sends its next statement from there.
  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    self.submit { $0.jobs.append(job) }
  }

  /// Records work under the lock, then wakes the loop if it sleeps and no wake-up is on its way.
  private func submit(_ record: (inout Shared) -> Void) {
    let mustWake = self.shared.withLock { shared -> Bool in
      record(&shared)
      if shared.sleeping && !shared.wakePending {
        shared.wakePending = true
        return true
      }
      return false
    }
    if mustWake {
      var byte: UInt8 = 1
      _ = write(self.wakeWrite, &byte, 1)
    }
  }

  private func run() {
    self.threadID.store(UInt(pthread_self()), ordering: .relaxed)
    // Named for the kernel too (`top -H`, `perf`): Foundation's `Thread.name` is not passed on.
    let comm = open("/proc/thread-self/comm", O_WRONLY)
    if comm >= 0 {
      _ = self.name.withCString { write(comm, $0, strlen($0)) }
      close(comm)
    }
    var fds: [pollfd] = []
    var owners: [ConnectionDriver?] = []
    var jobs: [UnownedJob] = []
    var scheduled: [ConnectionDriver] = []
    var completed: [ConnectionDriver.Completion] = []
    while true {
      // Tasks resumed here first: the statements they queue are sent just below, all of a
      // connection's in one go (see `PostgresConnection.enqueue`).
      self.shared.withLock { swap(&jobs, &$0.jobs) }
      for job in jobs {
        job.runSynchronously(on: self.asUnownedTaskExecutor())
      }
      jobs.removeAll(keepingCapacity: true)
      self.shared.withLock { swap(&scheduled, &$0.scheduled) }
      for driver in scheduled {
        if !driver.isWatched {
          driver.isWatched = true
          self.drivers.append(driver)
        }
        driver.lock.withLock { _ in
          driver.service()
          driver.takeCompletions(into: &completed)
        }
      }
      scheduled.removeAll(keepingCapacity: true)
      ConnectionDriver.resume(&completed)

      // What to wait for; closed drivers are dropped here.
      self.drivers.removeAll { $0.publishedFinished.load(ordering: .acquiring) }
      fds.removeAll(keepingCapacity: true)
      owners.removeAll(keepingCapacity: true)
      fds.append(pollfd(fd: self.wakeRead, events: Int16(POLLIN), revents: 0))
      owners.append(nil)
      var earliest: ContinuousClock.Instant?
      for driver in self.drivers {
        let interest = driver.publishedInterest.load(ordering: .acquiring)
        if interest >= 0 {
          fds.append(
            pollfd(
              fd: Int32(truncatingIfNeeded: interest >> 16),
              events: Int16(bitPattern: UInt16(truncatingIfNeeded: interest)), revents: 0))
          owners.append(driver)
        }
        // Only drivers with timers are locked here, so a busy connection's senders are not
        // made to wait for the loop on every iteration.
        if driver.publishedHasTimers.load(ordering: .acquiring),
          let deadline = driver.lock.withLock({ _ in driver.nextDeadline }),
          earliest.map({ deadline < $0 }) ?? true
        {
          earliest = deadline
        }
      }
      var timeout: Int32 = -1
      if let earliest {
        let remaining = ContinuousClock.now.duration(to: earliest)
        let milliseconds = remaining.components.seconds * 1000
          + remaining.components.attoseconds / 1_000_000_000_000_000 + 1
        timeout = Int32(clamping: max(0, milliseconds))
      }

      let mustSleep = self.shared.withLock { shared -> Bool in
        guard shared.scheduled.isEmpty, shared.jobs.isEmpty else { return false }
        shared.sleeping = true
        return true
      }
      guard mustSleep else { continue }
      let ready = poll(&fds, nfds_t(fds.count), timeout)
      let drain = self.shared.withLock { shared -> Bool in
        shared.sleeping = false
        defer { shared.wakePending = false }
        return shared.wakePending
      }
      if drain || (ready > 0 && fds[0].revents != 0) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
          while read(self.wakeRead, buffer.baseAddress, buffer.count) > 0 {}
        }
      }
      if ready > 0 {
        for index in 1..<fds.count where fds[index].revents != 0 {
          let revents = Int32(fds[index].revents)
          guard let driver = owners[index] else { continue }
          driver.lock.withLock { _ in
            driver.socketReady(
              readable: revents & Int32(POLLIN | POLLHUP | POLLERR) != 0,
              writable: revents & Int32(POLLOUT | POLLHUP | POLLERR) != 0)
            driver.takeCompletions(into: &completed)
          }
        }
      }
      if earliest != nil {
        let now = ContinuousClock.now
        for driver in self.drivers {
          driver.lock.withLock { _ in
            driver.checkDeadlines(now: now)
            driver.takeCompletions(into: &completed)
          }
        }
      }
      ConnectionDriver.resume(&completed)
    }
  }
}
