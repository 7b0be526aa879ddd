public import Messages

/// A call that ended with a status other than OK.
///
/// Handlers throw it (or an error that is ``RPCErrorConvertible``) to choose the status a caller
/// sees; clients receive it when a call fails. Any other error a handler throws reaches the
/// caller as `UNKNOWN` with a generic message, so internal details (SQL, file paths, secrets)
/// never cross the wire by accident.
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
  /// The error that led to this one (a database error, say), for the server's logs. It never
  /// goes on the wire, and it takes no part in equality.
  public var cause: (any Error & Sendable)?

  public init(
    code: RPCStatusCode, message: String, details: RpcV1.ErrorDetails? = nil,
    metadata: Metadata = [:], refused: Bool = false, cause: (any Error & Sendable)? = nil
  ) {
    self.code = code
    self.message = message
    self.details = details
    self.metadata = metadata
    self.refused = refused
    self.cause = cause
  }

  public var description: String {
    message.isEmpty ? code.name : "\(code.name): \(message)"
  }

  public static func == (lhs: RPCError, rhs: RPCError) -> Bool {
    lhs.code == rhs.code && lhs.message == rhs.message && lhs.details == rhs.details
      && lhs.metadata == rhs.metadata && lhs.refused == rhs.refused
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(code)
    hasher.combine(message)
    hasher.combine(details)
    hasher.combine(metadata)
    hasher.combine(refused)
  }
}

/// An error type of a service's own that knows the status a caller should see. The server maps
/// a handler's thrown error through it, so services throw their domain errors and still give
/// callers a precise status, reason and details.
public protocol RPCErrorConvertible: Error {
  /// The status to send for this error.
  var rpcError: RPCError { get }
}
