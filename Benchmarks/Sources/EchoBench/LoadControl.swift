import Synchronization

/// The phase of a closed-loop run, shared by the driver and every calling task: warm-up, the
/// measured window, done. Tasks read it after each call (one relaxed atomic load).
final class LoadControl: Sendable {
  private let phase = Atomic<Int>(0)

  /// True inside the measured window.
  var isMeasuring: Bool { phase.load(ordering: .relaxed) == 1 }
  /// True once the measured window is over: tasks stop starting calls.
  var isDone: Bool { phase.load(ordering: .relaxed) == 2 }

  func startMeasuring() { phase.store(1, ordering: .relaxed) }
  func finish() { phase.store(2, ordering: .relaxed) }
}
