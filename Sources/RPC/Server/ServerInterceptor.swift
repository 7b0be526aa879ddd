public import NIOCore

/// Code that runs around every call a server handles: authentication, logging, metrics.
///
/// An interceptor may change the context it passes on (for example to add metadata), refuse the
/// call by throwing an ``RPCError`` without calling `next`, or observe how `next` ends. The
/// first interceptor in the server's list runs outermost.
public protocol ServerInterceptor: Sendable {
  func intercept(
    context: ServerContext, next: @Sendable (ServerContext) async throws -> Void
  ) async throws

  /// The interceptor's synchronous form, for unary calls a method may answer on the event loop
  /// (``RPCRouter/registerUnary(_:immediate:_:)``): either does what ``intercept(context:next:)``
  /// would and returns what `next` returns (the encoded response, or nil when the method leaves
  /// the call to its handler), or returns nil without calling `next` when it can only decide
  /// asynchronously. A nil sends the call down the async path, through ``intercept(context:next:)``
  /// and the handler, as if no immediate path had run; so this form must have no effect of its
  /// own that the async path would repeat, and must not block.
  ///
  /// The default returns nil: every call through an interceptor that does not implement it
  /// takes the async path.
  func interceptImmediately(
    context: ServerContext, next: (ServerContext) throws -> ByteBuffer?
  ) throws -> ByteBuffer?
}

extension ServerInterceptor {
  public func interceptImmediately(
    context: ServerContext, next: (ServerContext) throws -> ByteBuffer?
  ) throws -> ByteBuffer? {
    nil
  }
}
