/// One journey in flight (one arrival of the open model, one iteration of a closed-model user),
/// handed to the scenario: it times each step and records it as its own operation.
///
/// Operations are named "<journey>.<step>"; the engine records the whole journey as
/// "<journey>" when the scenario returns or throws. The first step's corrected latency starts
/// at the journey's intended send time (it carries any queueing before the send); later steps'
/// corrected and uncorrected latencies are both their own time. Owned by the journey's task:
/// not for sharing.
public final class JourneyContext {
  /// The arrival's number (open model), or a number unique to this user's iteration (closed).
  public let sequence: UInt64
  /// The virtual user (closed model), or the arrival number (open model).
  public let user: Int
  /// When the journey was meant to start, in the clock's nanoseconds.
  public let intendedStart: UInt64
  /// The journey's name, the prefix of its steps' operations; a scenario may change it before
  /// its first step (a mix names the scenario it picked).
  public var journey: String
  /// A generator seeded by the sequence: the same run makes the same choices.
  public var random: SplitMix64
  /// Whether this journey is in the measured window (intended at or after the warm-up's end).
  public let measured: Bool

  let recorder: LoadRecorder
  let clock: any LoadClock
  let classify: @Sendable (any Error) -> String
  private var stepped = false

  init(
    sequence: UInt64, user: Int, intendedStart: UInt64, journey: String, measured: Bool, recorder: LoadRecorder,
    clock: any LoadClock, classify: @escaping @Sendable (any Error) -> String
  ) {
    self.sequence = sequence
    self.user = user
    self.intendedStart = intendedStart
    self.journey = journey
    self.measured = measured
    self.recorder = recorder
    self.clock = clock
    self.classify = classify
    self.random = SplitMix64(seed: sequence &* 0x9E37_79B9_7F4A_7C15 &+ 1)
  }

  /// Runs `body` as the step `name`, records its latency under its status (OK, or what the
  /// engine's classifier names the error), and returns its value or rethrows its error.
  public func step<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
    let start = clock.now()
    let from = stepped ? start : min(start, intendedStart)
    stepped = true
    do {
      let value = try await body()
      record(name, status: OperationKey.ok, from: from, start: start)
      return value
    } catch {
      record(name, status: classify(error), from: from, start: start)
      throw error
    }
  }

  private func record(_ name: String, status: String, from: UInt64, start: UInt64) {
    let end = clock.now()
    recorder.record(
      worker: Int(truncatingIfNeeded: sequence), key: OperationKey(operation: journey + "." + name, status: status),
      corrected: end &- from, uncorrected: end &- start, measured: measured)
  }
}

/// A failure a scenario detects itself (a wrong answer, a missing precondition), recorded under
/// `status`.
public struct LoadFailure: Error, Sendable, CustomStringConvertible {
  public var status: String
  public var message: String

  public init(_ status: String, _ message: String) {
    self.status = status
    self.message = message
  }

  public var description: String { "\(status): \(message)" }
}
