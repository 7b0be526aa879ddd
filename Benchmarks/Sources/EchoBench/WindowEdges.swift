import LoadCore
import Synchronization

/// The measured window's edges as a client process sees them: at each edge it takes its own
/// snapshot (monotonic time, CPU time, allocation count) and then writes the marker
/// (`WINDOW_START`, `WINDOW_END`) on stdout, so that the orchestrator samples the server at the
/// same moments.
///
/// The unary clients hand ``observe(_:)`` to LoadCore's engine as its phase observer; the
/// stream drivers (``StreamLoad``) call it from their own timer. Safe from any task.
final class WindowEdges: Sendable {
  private struct Snapshot: Sendable {
    var time: UInt64
    var cpuSeconds: Double
    var mallocs: MallocCounts?
  }

  private let edges = Mutex<(start: Snapshot?, end: Snapshot?)>((nil, nil))

  /// Takes the snapshot of `phase`'s edge, then writes its marker.
  func observe(_ phase: LoadPhase) {
    let snapshot = Snapshot(time: monotonicNanoseconds(), cpuSeconds: processCPUSeconds(), mallocs: .current())
    switch phase {
    case .measuring:
      edges.withLock { $0.start = snapshot }
      emitLine("WINDOW_START")
    case .finished:
      edges.withLock { $0.end = snapshot }
      emitLine("WINDOW_END")
    }
  }

  /// The window's length, this process's CPU time and allocations in it; nil until both
  /// edges were observed.
  func measurement() -> (elapsedSeconds: Double, cpuSeconds: Double, mallocs: MallocCounts?)? {
    edges.withLock { edges in
      guard let start = edges.start, let end = edges.end else { return nil }
      var mallocs: MallocCounts?
      if let before = start.mallocs, let after = end.mallocs { mallocs = after - before }
      return (Double(end.time - start.time) / 1e9, end.cpuSeconds - start.cpuSeconds, mallocs)
    }
  }
}
