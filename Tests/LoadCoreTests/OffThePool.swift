import Dispatch

/// Runs the CPU-heavy part of a test on one Dispatch thread, off Swift's cooperative pool.
///
/// Tests run in parallel, and a synchronous test holds one of the pool's threads (two on a
/// two-core machine) until it returns: a load engine running in a test beside it
/// (CorrectionTests) then wakes late for everything it schedules. Work done here, one piece at
/// a time on a serial queue, leaves the pool and a core to the engine; expectations stay in the
/// test's own task, where they are recorded.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    heavyWork.async { continuation.resume(with: Result { try work() }) }
  }
}

private let heavyWork = DispatchQueue(label: "LoadCoreTests.heavy-work")
