import Messages

/// What every client transport (a connection, the pool, the in-process transport) does around a
/// call before handing it to the wire, once per call:
/// 1. adds `traceparent` unless the caller set one (``RPCTrace``: the current trace continued,
///    or a new one);
/// 2. counts the call in `metrics` (``RPCMetrics``): in flight while `body` runs, then calls
///    and duration by the status it ended with (OK when `body` returns, the ``RPCError``'s code
///    when it throws one, CANCELLED for `CancellationError`, UNKNOWN otherwise);
/// 3. runs the client interceptors, outermost first, around `body`.
enum ClientPipeline {
  static func run<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, interceptors: [any ClientInterceptor],
    metrics: ClientMetrics = .global, _ body: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    var options = options
    RPCTrace.propagate(into: &options.metadata)
    let context = ClientCallContext(method: method, options: options)
    guard metrics.isRecording else { return try await intercepted(interceptors, context, body) }
    let methodMetrics = metrics.method(method)
    let started = methodMetrics.started()
    do {
      let result = try await intercepted(interceptors, context, body)
      methodMetrics.finished(.ok, startedAt: started)
      return result
    } catch {
      methodMetrics.finished(RPCMetrics.code(of: error), startedAt: started)
      throw error
    }
  }

  static func intercepted<Result: Sendable>(
    _ interceptors: [any ClientInterceptor], _ context: ClientCallContext,
    _ body: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    guard !interceptors.isEmpty else { return try await body(context) }
    return try await chain(interceptors[...], context: context, body)
  }

  private static func chain<Result: Sendable>(
    _ interceptors: ArraySlice<any ClientInterceptor>, context: ClientCallContext,
    _ body: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    guard let first = interceptors.first else { return try await body(context) }
    return try await first.intercept(context: context) { context in
      try await chain(interceptors.dropFirst(), context: context, body)
    }
  }
}
