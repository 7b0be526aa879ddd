import LoadCore

#if canImport(Glibc)
import Glibc
#endif

/// A closed-loop run: `concurrency` tasks, each making one call at a time, for a warm-up and
/// then a measured window.
///
/// The window is delimited by `WINDOW_START` and `WINDOW_END` lines on stdout, written right
/// after this process took its own snapshot (time, getrusage, allocation counts), so that the
/// orchestrator can sample the server at the same moments. Calls that complete inside the
/// window are counted and their latencies recorded; when the window ends, the tasks finish
/// their current call and return.
struct ClosedLoop {
  var concurrency: Int
  var warmUpSeconds: Double
  var seconds: Double

  /// What the window measured.
  struct Outcome: Sendable {
    var tally: CallTally
    var elapsedSeconds: Double
    var cpuSeconds: Double
    var mallocs: MallocCounts?
  }

  /// Runs `task(index, control)` in `concurrency` child tasks (which inherit the caller's task
  /// executor preference) and returns the merged tallies. Cancelling the calling task cancels them.
  func run(_ task: @escaping @Sendable (Int, LoadControl) async throws -> CallTally) async throws -> Outcome {
    let control = LoadControl()
    return try await withThrowingTaskGroup(of: CallTally.self) { group in
      for index in 0..<concurrency {
        group.addTask { try await task(index, control) }
      }
      return try await window(control) {
        var tally = CallTally()
        for try await part in group { tally.merge(part) }
        return tally
      }
    }
  }

  /// Waits out the warm-up, measures the window (snapshots, markers, `control` phases), then
  /// returns what `collect` gathers once the callers have stopped.
  func window(_ control: LoadControl, collect: () async throws -> CallTally) async throws -> Outcome {
    try await Task.sleep(for: .milliseconds(Int(warmUpSeconds * 1_000)))
    let startTime = monotonicNanoseconds()
    let startCPU = processCPUSeconds()
    let startMallocs = MallocCounts.current()
    control.startMeasuring()
    emitLine("WINDOW_START")
    try await Task.sleep(for: .milliseconds(Int(seconds * 1_000)))
    control.finish()
    let endTime = monotonicNanoseconds()
    let endCPU = processCPUSeconds()
    let endMallocs = MallocCounts.current()
    emitLine("WINDOW_END")
    let tally = try await collect()
    var mallocs: MallocCounts?
    if let startMallocs, let endMallocs { mallocs = endMallocs - startMallocs }
    return Outcome(
      tally: tally, elapsedSeconds: Double(endTime - startTime) / 1e9, cpuSeconds: endCPU - startCPU,
      mallocs: mallocs)
  }
}
