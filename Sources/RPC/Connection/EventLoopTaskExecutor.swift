import NIOCore

/// Runs Swift tasks on a NIO event loop.
///
/// A server runs each call's handler with this executor preferred (by default), so the request
/// that the event loop just decoded is handled, and its response written, on the same thread
/// without a hop to the global pool and back. Handlers must therefore not block: anything slow
/// awaits (the PostgreSQL driver, for example, runs libpq on its own threads).
///
/// Jobs wait in a queue of their own (``LoopHandoff``) that one event-loop task runs: a closure
/// capturing a job would be an allocation per job, while the closure that runs the queue
/// captures only the executor. Jobs enqueued while the queue runs (a task that yields, for
/// example) wait for the next run, after the loop has done its other work, as they would with
/// one loop task each.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
  let eventLoop: any EventLoop
  private let queue = LoopHandoff<UnownedJob>()

  init(_ eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func enqueue(_ job: consuming ExecutorJob) {
    if queue.add(UnownedJob(job)) { eventLoop.execute { self.runQueuedJobs() } }
  }

  /// Runs the jobs queued so far, oldest first.
  private func runQueuedJobs() {
    let executor = asUnownedTaskExecutor()
    queue.takeAll { jobs in
      for job in jobs { job.runSynchronously(on: executor) }
    }
  }
}
