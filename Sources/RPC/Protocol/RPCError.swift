public import Messages

/// A call that ended with a status other than OK.
///
/// Handlers throw it to choose the status a caller sees; clients receive it when a call fails.
/// Any other error a handler throws reaches the caller as `UNKNOWN` with a generic message, so
/// internal details (SQL, file paths, secrets) never cross the wire by accident.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The status code.
  public var code: RPCStatusCode
  /// A message for developers; sent to the caller as is.
  public var message: String
  /// Structured details (reason, field violations, retry delay...).
  public var details: RpcV1.ErrorDetails?
  /// Trailing metadata sent with the status.
  public var metadata: Metadata
  /// True when the server refused the call before processing it at all, so retrying it (on
  /// this or another server) cannot apply it twice.
  public var refused: Bool

  public init(
    code: RPCStatusCode, message: String, details: RpcV1.ErrorDetails? = nil,
    metadata: Metadata = [:], refused: Bool = false
  ) {
    self.code = code
    self.message = message
    self.details = details
    self.metadata = metadata
    self.refused = refused
  }

  public var description: String {
    message.isEmpty ? code.name : "\(code.name): \(message)"
  }
}
