/// Code that runs around every call a server handles: authentication, logging, metrics.
///
/// An interceptor may change the context it passes on (for example to add metadata), refuse the
/// call by throwing an ``RPCError`` without calling `next`, or observe how `next` ends. The
/// first interceptor in the server's list runs outermost.
public protocol ServerInterceptor: Sendable {
  func intercept(
    context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
  ) async throws
}
