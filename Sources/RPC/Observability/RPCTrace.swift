import Synchronization
public import W3CTraceContext

/// The W3C trace context of the call the current task serves, continued by every call it makes.
///
/// Calls carry it in the `traceparent` (and `tracestate`) metadata keys, in the format of W3C
/// Trace Context. The server reads them for each call (an absent or invalid header starts a new
/// trace; it never fails the call) and runs the handler with the result here and in
/// ``ServerContext/trace``. A client call made inside a trace (in a handler, or under
/// `RPCTrace.$current.withValue(...)`) whose metadata has no `traceparent` gets one: the current
/// trace with a new span id (same trace id and flags). So a handler's downstream calls continue
/// the caller's trace without code in the handler, and its log lines carry the trace id
/// (``ServerContext/logger``). A call made outside any trace carries none, and the first server
/// starts the trace: tracing starts at the edge, and untraced clients pay nothing for it.
///
/// Emporium records no spans itself: a trace id here correlates logs across services, and a
/// tracer in front (a gateway, an OpenTelemetry SDK) makes the sampling decision; new traces
/// start with no flags set.
public enum RPCTrace {
  /// The metadata key of the trace parent.
  public static let traceParentKey = "traceparent"
  /// The metadata key of vendor trace state.
  public static let traceStateKey = "tracestate"

  /// The trace of the call the current task serves, if any.
  @TaskLocal public static var current: TraceContext?

  /// The trace a call arrived with, or a new one when its metadata carries none that is valid.
  public static func incoming(_ metadata: Metadata) -> TraceContext {
    if !metadata.isEmpty, let parent = metadata.firstText(exactKey: traceParentKey) {
      let state = metadata.firstText(exactKey: traceStateKey)
      // An invalid tracestate loses only itself (W3C Trace Context §3.3.1.1).
      if let context = (try? TraceContext(traceParentHeaderValue: parent, traceStateHeaderValue: state))
        ?? (try? TraceContext(traceParentHeaderValue: parent))
      {
        return context
      }
    }
    return newTrace()
  }

  /// Adds `traceparent` (and `tracestate`) to an outgoing call's metadata when the task runs in
  /// a trace and the caller set none: the current trace with a new span id.
  static func propagate(into metadata: inout Metadata) {
    guard let current else { return }
    guard metadata.isEmpty || metadata.firstText(exactKey: traceParentKey) == nil else { return }
    var random = TraceRandom()
    let context = TraceContext(
      traceID: current.traceID, spanID: .random(using: &random), flags: current.flags, state: current.state)
    metadata.add(lowercasedKey: traceParentKey, traceParent(context))
    if let state = context.traceStateHeaderValue { metadata.add(lowercasedKey: traceStateKey, state) }
  }

  /// `context.traceParentHeaderValue`, written straight into one string: the library's version
  /// builds it by interpolation (six allocations and ~0.5 µs, on every downstream call).
  static func traceParent(_ context: TraceContext) -> String {
    String(unsafeUninitializedCapacity: 55) { out in
      let digits: (UInt8) -> UInt8 = { $0 < 10 ? 48 + $0 : 87 + $0 }
      var index = 0
      func byte(_ value: UInt8) {
        out[index] = digits(value >> 4)
        out[index + 1] = digits(value & 0xF)
        index += 2
      }
      byte(0)
      out[index] = 45
      index += 1
      withUnsafeBytes(of: context.traceID.bytes) { for value in $0 { byte(value) } }
      out[index] = 45
      index += 1
      withUnsafeBytes(of: context.spanID.bytes) { for value in $0 { byte(value) } }
      out[index] = 45
      index += 1
      byte(context.flags.rawValue)
      return index
    }
  }

  static func newTrace() -> TraceContext {
    var random = TraceRandom()
    return TraceContext(
      traceID: .random(using: &random), spanID: .random(using: &random), flags: [], state: TraceState())
  }
}

/// Random ids for traces and spans without a system call each: SplitMix64 over one atomic
/// counter seeded from the system's generator. Ids must be unique and evenly spread, not
/// unpredictable.
struct TraceRandom: RandomNumberGenerator {
  private static let state: Atomic<UInt64> = {
    var system = SystemRandomNumberGenerator()
    return Atomic(system.next())
  }()

  mutating func next() -> UInt64 {
    let (seed, _) = Self.state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed)
    var z = seed
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension Metadata {
  /// The first text value of `key`, which must already be lower-case (cheaper than the
  /// subscript, which lower-cases its argument).
  func firstText(exactKey key: String) -> String? {
    for entry in entries where entry.key == key {
      if case .text(let text) = entry.value { return text }
    }
    return nil
  }
}
