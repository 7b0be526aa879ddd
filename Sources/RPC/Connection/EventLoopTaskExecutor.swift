import NIOCore

/// Runs Swift tasks on a NIO event loop.
///
/// A server runs each call's handler with this executor preferred (by default), so the request
/// that the event loop just decoded is handled, and its response written, on the same thread
/// without a hop to the global pool and back. Handlers must therefore not block: anything slow
/// awaits (the PostgreSQL driver, for example, runs libpq on its own threads).
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
  // @unchecked: the only stored property is an EventLoop, which is Sendable and thread-safe.
  let eventLoop: any EventLoop

  init(_ eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    eventLoop.execute {
      job.runSynchronously(on: self.asUnownedTaskExecutor())
    }
  }
}
