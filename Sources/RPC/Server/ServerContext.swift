public import Logging
public import Messages
public import W3CTraceContext

/// What a handler knows about the call it serves.
public struct ServerContext: Sendable {
  /// The method being called.
  public var method: ProtoMethodDescriptor
  /// The metadata the caller sent with the call.
  public var metadata: Metadata
  /// When the caller stops waiting, if it said. The server cancels the handler at this instant,
  /// and calls the handler makes inherit it (see ``RPCDeadline``).
  public var deadline: ContinuousClock.Instant?
  /// The caller's address, for logs.
  public var peer: String
  /// The call's id on its connection, for logs.
  public var callID: UInt32
  /// The call's W3C trace context: the one the caller sent in `traceparent`, or a new trace.
  /// Set by the server before interceptors and handler run, which also see it in
  /// ``RPCTrace/current``; calls the handler makes continue it.
  public var trace: TraceContext?
  /// The server's logger, without the call's metadata (see ``logger``).
  public var serverLogger: Logger

  public init(
    method: ProtoMethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String, callID: UInt32,
    trace: TraceContext? = nil, serverLogger: Logger = ServerContext.defaultLogger
  ) {
    self.method = method
    self.metadata = metadata
    self.deadline = deadline
    self.peer = peer
    self.callID = callID
    self.trace = trace
    self.serverLogger = serverLogger
  }

  /// A logger for this call: the server's, with the call's metadata `rpc.call_id`,
  /// `rpc.method`, `rpc.peer` and `trace_id`. Built on each access: take it once per handler
  /// (`let logger = context.logger`).
  public var logger: Logger {
    var logger = serverLogger
    logger[metadataKey: "rpc.call_id"] = .stringConvertible(callID)
    logger[metadataKey: "rpc.method"] = .string(method.path)
    logger[metadataKey: "rpc.peer"] = .string(peer)
    if let trace { logger[metadataKey: "trace_id"] = .stringConvertible(trace.traceID) }
    return logger
  }

  /// The logger of contexts made without one.
  public static let defaultLogger = Logger(label: "emporium.rpc.server")
}

/// The deadline of the call the current task serves, inherited by every call it makes.
///
/// The server sets it around each handler; clients take the earlier of it and the call's own
/// deadline, and send the remaining time downstream. So a handler's downstream calls inherit the
/// remaining budget without code in the handler.
public enum RPCDeadline {
  @TaskLocal public static var current: ContinuousClock.Instant?
}
