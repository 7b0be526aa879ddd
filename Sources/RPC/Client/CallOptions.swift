/// Per-call options.
public struct CallOptions: Sendable {
  /// How long the caller waits. The effective deadline is the earliest of this, ``deadline``
  /// and the deadline of the call the current task serves (``RPCDeadline``).
  public var timeout: Duration?
  /// An absolute deadline.
  public var deadline: ContinuousClock.Instant?
  /// Metadata sent with the call.
  public var metadata: Metadata

  public init(timeout: Duration? = nil, deadline: ContinuousClock.Instant? = nil, metadata: Metadata = [:]) {
    self.timeout = timeout
    self.deadline = deadline
    self.metadata = metadata
  }

  /// The earliest of the timeout, the deadline and the inherited deadline. The clock is read
  /// only for a timeout.
  func effectiveDeadline() -> ContinuousClock.Instant? {
    var earliest = deadline
    if let timeout {
      let end = ContinuousClock.now + timeout
      earliest = Swift.min(earliest ?? end, end)
    }
    if let inherited = RPCDeadline.current { earliest = Swift.min(earliest ?? inherited, inherited) }
    return earliest
  }
}

/// What a client interceptor sees of a call.
public struct ClientCallContext: Sendable {
  /// The method being called.
  public var method: ProtoMethodDescriptor
  /// The call's options; an interceptor may change them (for example to add metadata).
  public var options: CallOptions

  public init(method: ProtoMethodDescriptor, options: CallOptions) {
    self.method = method
    self.options = options
  }
}

/// Code that runs around every call a client makes (adding metadata, logging, metrics).
/// Interceptors run in order, the first outermost.
public protocol ClientInterceptor: Sendable {
  func intercept<Result: Sendable>(
    context: ClientCallContext, next: (ClientCallContext) async throws -> Result
  ) async throws -> Result
}

public import Messages
