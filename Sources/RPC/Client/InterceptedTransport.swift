public import Messages
public import NIOCore

/// Another transport with client interceptors run around each of its calls, first outermost:
/// for example one pool to a service shared by several callers, each with its own credentials.
/// The interceptors run once per call, before the base transport's own pipeline (its metrics,
/// trace context and retries).
public struct InterceptedTransport: ClientTransport {
  public let base: any ClientTransport
  public let interceptors: [any ClientInterceptor]

  public init(_ base: any ClientTransport, interceptors: [any ClientInterceptor]) {
    self.base = base
    self.interceptors = interceptors
  }

  public func unary(method: ProtoMethodDescriptor, request: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
    try await ClientPipeline.intercepted(interceptors, ClientCallContext(method: method, options: options)) { context in
      try await base.unary(method: context.method, request: request, options: context.options)
    }
  }

  public func withStreamingCall<Result: Sendable>(
    method: ProtoMethodDescriptor, options: CallOptions, _ body: (any RawClientCall) async throws -> Result
  ) async throws -> Result {
    try await ClientPipeline.intercepted(interceptors, ClientCallContext(method: method, options: options)) { context in
      try await base.withStreamingCall(method: context.method, options: context.options, body)
    }
  }
}
