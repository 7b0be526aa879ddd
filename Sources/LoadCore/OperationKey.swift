/// What one histogram counts: an operation (a scenario step such as "checkout.login", or a
/// whole journey such as "checkout") and the status its calls ended with ("OK", or a status
/// code's name such as "UNAVAILABLE").
public struct OperationKey: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
  public var operation: String
  public var status: String

  public init(operation: String, status: String) {
    self.operation = operation
    self.status = status
  }

  /// The status of a call that succeeded.
  public static let ok = "OK"

  public var isOK: Bool { status == Self.ok }

  public static func < (lhs: OperationKey, rhs: OperationKey) -> Bool {
    (lhs.operation, lhs.status) < (rhs.operation, rhs.status)
  }

  public var description: String { "\(operation) [\(status)]" }
}
