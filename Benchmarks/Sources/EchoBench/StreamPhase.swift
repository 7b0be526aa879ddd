import Synchronization

/// The phase of a stream driver's run, shared by ``StreamLoad`` and every loop it drives:
/// warm-up, the measured window, done. Loops read it after each round trip (one relaxed
/// atomic load).
final class StreamPhase: Sendable {
  private let phase = Atomic<Int>(0)

  /// True inside the measured window.
  var isMeasuring: Bool { phase.load(ordering: .relaxed) == 1 }
  /// True once the measured window is over: loops stop sending.
  var isDone: Bool { phase.load(ordering: .relaxed) == 2 }

  func startMeasuring() { phase.store(1, ordering: .relaxed) }
  func finish() { phase.store(2, ordering: .relaxed) }
}
