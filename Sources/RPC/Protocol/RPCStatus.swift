/// gRPC's 17 canonical status codes, with the same names and numbers, so a status means the same
/// thing here as in any gRPC system.
public enum RPCStatusCode: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
  /// Not an error.
  case ok = 0
  /// The call was cancelled, typically by the caller.
  case cancelled = 1
  /// An error that fits no other code.
  case unknown = 2
  /// The request is invalid regardless of system state.
  case invalidArgument = 3
  /// The deadline passed before the call completed.
  case deadlineExceeded = 4
  /// A requested entity was not found.
  case notFound = 5
  /// The entity a call tried to create already exists.
  case alreadyExists = 6
  /// The caller may not do this.
  case permissionDenied = 7
  /// A resource (quota, capacity, a size limit) is exhausted.
  case resourceExhausted = 8
  /// The system is not in a state the operation requires.
  case failedPrecondition = 9
  /// The operation was aborted, typically by a concurrency conflict; retry at a higher level.
  case aborted = 10
  /// An operation went past a valid range.
  case outOfRange = 11
  /// The method is not implemented or not supported by this server.
  case unimplemented = 12
  /// An invariant the system relies on was broken.
  case `internal` = 13
  /// The service is currently unavailable; retrying with backoff may succeed.
  case unavailable = 14
  /// Data was lost or corrupted.
  case dataLoss = 15
  /// The caller is not authenticated.
  case unauthenticated = 16

  /// The canonical upper-snake name, for example `DEADLINE_EXCEEDED`.
  public var name: String {
    switch self {
    case .ok: "OK"
    case .cancelled: "CANCELLED"
    case .unknown: "UNKNOWN"
    case .invalidArgument: "INVALID_ARGUMENT"
    case .deadlineExceeded: "DEADLINE_EXCEEDED"
    case .notFound: "NOT_FOUND"
    case .alreadyExists: "ALREADY_EXISTS"
    case .permissionDenied: "PERMISSION_DENIED"
    case .resourceExhausted: "RESOURCE_EXHAUSTED"
    case .failedPrecondition: "FAILED_PRECONDITION"
    case .aborted: "ABORTED"
    case .outOfRange: "OUT_OF_RANGE"
    case .unimplemented: "UNIMPLEMENTED"
    case .internal: "INTERNAL"
    case .unavailable: "UNAVAILABLE"
    case .dataLoss: "DATA_LOSS"
    case .unauthenticated: "UNAUTHENTICATED"
    }
  }

  public var description: String { name }

  /// The code with that canonical name (`"NOT_FOUND"`), if any.
  public init?(name: String) {
    guard let code = Self.allCases.first(where: { $0.name == name }) else { return nil }
    self = code
  }
}
