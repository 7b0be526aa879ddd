public import CommerceAPI
public import Messages
public import RPC

/// A commerce error as common.proto describes it: a status code, an ErrorInfo with domain
/// "commerce.emporium" and one of the contract's ErrorReason values, and the structured details
/// the reason calls for (BadRequest, PreconditionFailure, QuotaFailure, RetryInfo).
///
/// Services throw it; the server turns it into the call's status (``RPCErrorConvertible``). The
/// optional ``cause`` is logged by the server and never sent.
///
/// ```swift
/// throw CommerceError(.failedPrecondition, .insufficientStock, "not enough stock",
///                     metadata: ["productId": id, "requested": "3", "available": "1"])
///   .precondition(kind: "INSUFFICIENT_STOCK", subject: "product/\(id)", "requested 3, available 1")
/// ```
public struct CommerceError: Error, Sendable, RPCErrorConvertible, CustomStringConvertible {
  /// The status code.
  public var code: RPCStatusCode
  /// The ErrorInfo reason, or nil for errors the contract gives no reason (a plain NOT_FOUND).
  public var reason: CommerceV1.ErrorReason?
  /// The message for developers.
  public var message: String
  /// ErrorInfo metadata (lowerCamelCase keys, as common.proto says).
  public var metadata: [String: String]
  /// The BadRequest field violations, for INVALID_ARGUMENT.
  public var fieldViolations: [RpcV1.BadRequest.FieldViolation]
  /// The PreconditionFailure violations, for FAILED_PRECONDITION.
  public var preconditionViolations: [RpcV1.PreconditionFailure.Violation]
  /// The QuotaFailure violations, for RESOURCE_EXHAUSTED.
  public var quotaViolations: [RpcV1.QuotaFailure.Violation]
  /// When the caller may retry (a RetryInfo detail).
  public var retryAfter: Duration?
  /// What led to this error, for the server's logs only.
  public var cause: (any Error & Sendable)?

  public init(
    _ code: RPCStatusCode, _ reason: CommerceV1.ErrorReason?, _ message: String,
    metadata: [String: String] = [:], retryAfter: Duration? = nil, cause: (any Error & Sendable)? = nil
  ) {
    self.code = code
    self.reason = reason
    self.message = message
    self.metadata = metadata
    self.fieldViolations = []
    self.preconditionViolations = []
    self.quotaViolations = []
    self.retryAfter = retryAfter
    self.cause = cause
  }

  /// INVALID_ARGUMENT with a BadRequest listing every violation.
  public static func invalidArgument(_ violations: FieldViolations, reason: CommerceV1.ErrorReason? = nil) -> CommerceError {
    var error = CommerceError(.invalidArgument, reason, violations.summary)
    error.fieldViolations = violations.violations
    return error
  }

  /// INVALID_ARGUMENT for one field.
  public static func invalidArgument(field: String, _ description: String, reason: CommerceV1.ErrorReason? = nil) -> CommerceError {
    var violations = FieldViolations()
    violations.add(field, description)
    return invalidArgument(violations, reason: reason)
  }

  /// NOT_FOUND for a resource, also what another customer's resource reads as.
  public static func notFound(_ kind: String, _ id: String) -> CommerceError {
    CommerceError(.notFound, nil, "\(kind) '\(id)' not found")
  }

  /// UNAUTHENTICATED.
  public static func unauthenticated(_ message: String, reason: CommerceV1.ErrorReason? = nil) -> CommerceError {
    CommerceError(.unauthenticated, reason, message)
  }

  /// PERMISSION_DENIED.
  public static func permissionDenied(_ message: String, reason: CommerceV1.ErrorReason? = nil) -> CommerceError {
    CommerceError(.permissionDenied, reason, message)
  }

  /// ABORTED (reason VERSION_MISMATCH) with the resource's current version.
  public static func versionMismatch(current: Int64) -> CommerceError {
    CommerceError(
      .aborted, .versionMismatch, "expected_version does not match the current version \(current)",
      metadata: ["currentVersion": String(current)])
  }

  /// FAILED_PRECONDITION (reason INVALID_STATE_TRANSITION).
  public static func invalidTransition(from status: String, to requested: String) -> CommerceError {
    CommerceError(
      .failedPrecondition, .invalidStateTransition, "cannot go from \(status) to \(requested)",
      metadata: ["status": status, "requested": requested])
  }

  /// This error with one more PreconditionFailure violation.
  public func precondition(kind: String, subject: String, _ description: String) -> CommerceError {
    var copy = self
    copy.preconditionViolations.append(.with {
      $0.kind = kind
      $0.subject = subject
      $0.messageText = description
    })
    return copy
  }

  /// This error with one more QuotaFailure violation.
  public func quota(subject: String, id: String, limit: Int64, window: Duration?, _ description: String) -> CommerceError {
    var copy = self
    copy.quotaViolations.append(.with {
      $0.subject = subject
      $0.quotaId = id
      $0.quotaLimit = limit
      $0.messageText = description
      if let window { $0.quotaWindow = .init(window) }
    })
    return copy
  }

  /// This error with a cause for the logs.
  public func causedBy(_ cause: any Error & Sendable) -> CommerceError {
    var copy = self
    copy.cause = cause
    return copy
  }

  public var rpcError: RPCError {
    var details = RpcV1.ErrorDetails()
    if let reason {
      details.details.append(.with {
        $0.detail = .errorInfo(.with {
          $0.reason = reason.reason
          $0.domain = CommerceV1.ErrorReason.domain
          $0.metadata = metadata
        })
      })
    }
    if !fieldViolations.isEmpty {
      details.details.append(.with { $0.detail = .badRequest(.with { $0.fieldViolations = fieldViolations }) })
    }
    if !preconditionViolations.isEmpty {
      details.details.append(.with { $0.detail = .preconditionFailure(.with { $0.violations = preconditionViolations }) })
    }
    if !quotaViolations.isEmpty {
      details.details.append(.with { $0.detail = .quotaFailure(.with { $0.violations = quotaViolations }) })
    }
    if let retryAfter {
      details.details.append(.with { $0.detail = .retryInfo(.with { $0.retryDelay = .init(retryAfter) }) })
    }
    return RPCError(
      code: code, message: message, details: details.details.isEmpty ? nil : details, cause: cause)
  }

  public var description: String { "\(code.name)\(reason.map { " (\($0.reason))" } ?? ""): \(message)" }
}

extension GoogleProtobuf.Duration {
  /// A Duration message for a Swift duration (whole nanoseconds).
  public init(_ duration: Swift.Duration) {
    self.init()
    let (seconds, attoseconds) = duration.components
    self.seconds = seconds
    self.nanos = Int32(attoseconds / 1_000_000_000)
  }
}

extension RPCError {
  /// The commerce ErrorInfo reason this error carries, if any: what clients branch on.
  public var commerceReason: String? {
    details?.details.lazy.compactMap { detail -> String? in
      guard case .errorInfo(let info) = detail.detail, info.domain == CommerceV1.ErrorReason.domain else { return nil }
      return info.reason
    }.first
  }

  /// The commerce ErrorInfo metadata, or empty.
  public var commerceMetadata: [String: String] {
    details?.details.lazy.compactMap { detail -> [String: String]? in
      guard case .errorInfo(let info) = detail.detail, info.domain == CommerceV1.ErrorReason.domain else { return nil }
      return info.metadata
    }.first ?? [:]
  }

  /// The fields a BadRequest detail names.
  public var invalidFields: [String] {
    details?.details.flatMap { detail -> [String] in
      guard case .badRequest(let request) = detail.detail else { return [] }
      return request.fieldViolations.map(\.field)
    } ?? []
  }

  /// The RetryInfo delay, if any.
  public var retryDelay: Duration? {
    details?.details.lazy.compactMap { detail -> Duration? in
      guard case .retryInfo(let info) = detail.detail, let delay = info.retryDelay else { return nil }
      return .seconds(delay.seconds) + .nanoseconds(Int64(delay.nanos))
    }.first
  }
}
