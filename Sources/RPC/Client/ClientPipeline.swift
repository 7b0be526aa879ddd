import Messages

/// What every client transport (a connection, the pool, the in-process transport) does around a
/// call before handing it to the wire: the client interceptors, outermost first.
enum ClientPipeline {
  static func run<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, interceptors: [any ClientInterceptor],
    _ body: (ClientCallContext) async throws -> Result
  ) async throws -> Result {
    let context = ClientCallContext(method: method, options: options)
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
