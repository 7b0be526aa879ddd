public import Messages

/// Collects every invalid field of a request, so one INVALID_ARGUMENT names them all
/// (common.proto: "with a BadRequest detail listing every invalid field").
///
/// ```swift
/// var violations = FieldViolations()
/// violations.check(request.email.count <= 254, "email", "must be at most 254 characters")
/// try violations.throwIfAny()
/// ```
public struct FieldViolations: Sendable {
  /// The violations found so far, in the order found.
  public private(set) var violations: [RpcV1.BadRequest.FieldViolation] = []

  public init() {}

  /// Whether nothing was found.
  public var isEmpty: Bool { violations.isEmpty }

  /// Records that `field` (a request field path such as "lines[2].quantity") is invalid.
  public mutating func add(_ field: String, _ description: String) {
    violations.append(.with {
      $0.field = field
      $0.messageText = description
    })
  }

  /// Records a violation unless `condition` holds.
  public mutating func check(_ condition: Bool, _ field: String, _ description: @autoclosure () -> String) {
    if !condition { add(field, description()) }
  }

  /// Checks a text field's length in characters.
  public mutating func checkLength(_ value: String, _ field: String, _ range: ClosedRange<Int>) {
    let count = value.count
    if count < range.lowerBound || count > range.upperBound {
      add(field, range.lowerBound == 0 ? "must be at most \(range.upperBound) characters" : "must be \(range.lowerBound) to \(range.upperBound) characters")
    }
  }

  /// Throws INVALID_ARGUMENT with every violation, if there is any.
  public func throwIfAny() throws(CommerceError) {
    guard !violations.isEmpty else { return }
    throw CommerceError.invalidArgument(self)
  }

  /// A one-line summary for the status message.
  var summary: String {
    switch violations.count {
    case 0: "invalid argument"
    case 1: "\(violations[0].field): \(violations[0].messageText)"
    default: "\(violations.count) invalid fields: " + violations.map(\.field).joined(separator: ", ")
    }
  }
}
