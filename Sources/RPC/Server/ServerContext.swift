public import Messages

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

  public init(
    method: ProtoMethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String, callID: UInt32
  ) {
    self.method = method
    self.metadata = metadata
    self.deadline = deadline
    self.peer = peer
    self.callID = callID
  }
}

/// The deadline of the call the current task serves, inherited by every call it makes.
///
/// The server sets it around each handler; clients take the earlier of it and the call's own
/// deadline, and send the remaining time downstream. So a handler's downstream calls inherit the
/// remaining budget without code in the handler.
public enum RPCDeadline {
  @TaskLocal public static var current: ContinuousClock.Instant?
}
