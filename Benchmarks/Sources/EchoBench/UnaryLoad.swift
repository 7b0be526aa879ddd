import Histogram
import LoadCore
import Synchronization

/// The unary clients' load: LoadCore's ``LoadEngine`` in the closed model, `concurrency`
/// virtual users, each journey one call, `warmUpSeconds` of warm-up and then a `seconds`
/// window whose edges ``WindowEdges`` marks (the engine's phase observer).
///
/// The outcome's histogram is the merged corrected histogram of the journeys intended in the
/// window that succeeded (in the closed model corrected and uncorrected agree: a journey is
/// sent when it is intended); its errors are every failed call of the run, warm-up included.
struct UnaryLoad {
  var concurrency: Int
  var warmUpSeconds: Double
  var seconds: Double

  /// The journey's name in the engine's totals.
  static let journey = "echo"
  /// Past this many failed calls the run is a broken run: it stops and fails loudly.
  static let failureLimit = 100

  /// Runs `call(sequence)` as every user's journey (one call; it throws on a failed or wrong
  /// answer; `sequence` is the journey's number, unique in the run) and returns what the
  /// window measured. The users run in child tasks, so they inherit the
  /// caller's task executor preference. Past ``failureLimit`` failures the run is cancelled and
  /// the last failure rethrown; cancelling the calling task cancels the run and throws
  /// `CancellationError`.
  func run(_ call: @escaping @Sendable (UInt64) async throws -> Void) async throws -> LoadOutcome {
    let edges = WindowEdges()
    let failures = FailureCount()
    let (exhausted, exhaust) = AsyncStream.makeStream(of: (any Error).self)
    let engine = LoadEngine(
      configuration: LoadRunConfiguration(
        model: .closed(users: concurrency, thinkTime: nil), warmup: .seconds(warmUpSeconds), duration: .seconds(seconds)),
      onPhase: { edges.observe($0) })
    let result = try await withThrowingTaskGroup(of: LoadResult?.self) { group in
      group.addTask {
        await engine.run(journey: Self.journey) { context in
          do {
            try await call(context.sequence)
          } catch {
            if failures.add() > Self.failureLimit { exhaust.yield(error) }
            throw error
          }
        }
      }
      group.addTask {
        for await error in exhausted { throw error }
        return nil  // the run ended first: this task was cancelled
      }
      defer { group.cancelAll() }
      while let result = try await group.next() {
        if let result { return result }
      }
      throw CancellationError()
    }
    try Task.checkCancellation()
    guard let window = edges.measurement() else { throw CancellationError() }
    let ok = result.operations[OperationKey(operation: Self.journey, status: OperationKey.ok)]?.corrected ?? .latency()
    return LoadOutcome(
      histogram: ok, errors: failures.value, elapsedSeconds: window.elapsedSeconds,
      cpuSeconds: window.cpuSeconds, mallocs: window.mallocs)
  }
}

/// Failed calls so far, counted from every user's task.
private final class FailureCount: Sendable {
  private let count = Atomic<Int>(0)

  /// Counts one more failure and returns the new total.
  func add() -> Int { count.wrappingAdd(1, ordering: .relaxed).newValue }

  var value: Int { count.load(ordering: .relaxed) }
}
