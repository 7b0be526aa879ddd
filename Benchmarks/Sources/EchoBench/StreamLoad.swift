import LoadCore

/// The drivers that are not one call per journey — a bidirectional stream per task, the bare
/// NIO frame load — keep their own loops and run them under this: a warm-up of
/// `warmUpSeconds`, then a `seconds` window whose edges ``WindowEdges`` marks, with
/// ``StreamPhase`` telling the loops which part of the run they are in. Round trips completing
/// inside the window are counted (``StreamTally``); when it ends, the loops finish their
/// current round trip and return.
struct StreamLoad {
  var concurrency: Int
  var warmUpSeconds: Double
  var seconds: Double

  /// Runs `task(index, phase)` in `concurrency` child tasks (which inherit the caller's task
  /// executor preference) and returns the merged tallies. Cancelling the calling task cancels them.
  func run(_ task: @escaping @Sendable (Int, StreamPhase) async throws -> StreamTally) async throws -> LoadOutcome {
    let phase = StreamPhase()
    return try await withThrowingTaskGroup(of: StreamTally.self) { group in
      for index in 0..<concurrency {
        group.addTask { try await task(index, phase) }
      }
      return try await window(phase) {
        var tally = StreamTally()
        for try await part in group { tally.merge(part) }
        return tally
      }
    }
  }

  /// Waits out the warm-up, measures the window (edges, `phase`), then returns what `collect`
  /// gathers once the loops have stopped.
  func window(_ phase: StreamPhase, collect: () async throws -> StreamTally) async throws -> LoadOutcome {
    let edges = WindowEdges()
    try await Task.sleep(for: .seconds(warmUpSeconds))
    edges.observe(.measuring)
    phase.startMeasuring()
    try await Task.sleep(for: .seconds(seconds))
    phase.finish()
    edges.observe(.finished)
    let tally = try await collect()
    guard let window = edges.measurement() else { throw CancellationError() }
    return LoadOutcome(
      histogram: tally.histogram, errors: tally.errors, elapsedSeconds: window.elapsedSeconds,
      cpuSeconds: window.cpuSeconds, mallocs: window.mallocs)
  }
}
