import CommerceAPI
import CommerceKit
import Foundation

/// A payment's lifecycle state (PaymentStatus), as the schema stores it.
///
/// Transitions (payments.proto): PENDING -> AUTHORIZED | DECLINED | FAILED | CAPTURED
/// (capture_immediately); AUTHORIZED -> CAPTURED | VOIDED; CAPTURED -> PARTIALLY_REFUNDED |
/// REFUNDED; PARTIALLY_REFUNDED -> PARTIALLY_REFUNDED | REFUNDED. DECLINED, FAILED, VOIDED and
/// REFUNDED are final.
enum PaymentState: String, Sendable, Hashable, CaseIterable {
  case pending = "PENDING"
  case authorized = "AUTHORIZED"
  case captured = "CAPTURED"
  case partiallyRefunded = "PARTIALLY_REFUNDED"
  case refunded = "REFUNDED"
  case declined = "DECLINED"
  case voided = "VOIDED"
  case failed = "FAILED"

  var proto: CommerceV1.PaymentStatus {
    switch self {
    case .pending: .pending
    case .authorized: .authorized
    case .captured: .captured
    case .partiallyRefunded: .partiallyRefunded
    case .refunded: .refunded
    case .declined: .declined
    case .voided: .voided
    case .failed: .failed
    }
  }

  /// Whether the contract allows going from this state to `next`.
  func allows(_ next: PaymentState) -> Bool {
    switch (self, next) {
    case (.pending, .authorized), (.pending, .declined), (.pending, .failed), (.pending, .captured): true
    case (.authorized, .captured), (.authorized, .voided): true
    case (.captured, .partiallyRefunded), (.captured, .refunded): true
    case (.partiallyRefunded, .partiallyRefunded), (.partiallyRefunded, .refunded): true
    default: false
    }
  }

  /// Whether money was collected (refunds are possible).
  var isCaptured: Bool { self == .captured || self == .partiallyRefunded || self == .refunded }

  /// Whether nothing can change it any more.
  var isFinal: Bool { self == .declined || self == .failed || self == .voided || self == .refunded }
}

/// A refund's lifecycle state (RefundStatus): PENDING -> SUCCEEDED | FAILED.
enum RefundState: String, Sendable, Hashable {
  case pending = "PENDING"
  case succeeded = "SUCCEEDED"
  case failed = "FAILED"

  var proto: CommerceV1.RefundStatus {
    switch self {
    case .pending: .pending
    case .succeeded: .succeeded
    case .failed: .failed
    }
  }
}

/// One payment as stored.
struct PaymentRecord: Sendable, Hashable {
  var id: UUID
  var seq: Int64
  var orderID: String
  var customerID: String
  var requestScope: String
  var requestKey: String
  var amount: Money
  var capturedMinor: Int64
  /// Succeeded and pending refunds.
  var refundedMinor: Int64
  var state: PaymentState
  var declineReason: CommerceV1.DeclineReason?
  var providerMessage: String
  var captureImmediately: Bool
  var card: CardSummary
  var providerID: String
  var providerPaymentID: String?
  var authorizationExpiresAt: Date?
  var needsReview: Bool
  var version: Int64
  var createdAt: Date
  var updatedAt: Date

  var captured: Money { Money(amountMinor: capturedMinor, currency: amount.currency) }
  var refunded: Money { Money(amountMinor: refundedMinor, currency: amount.currency) }
}

/// One refund as stored.
struct RefundRecord: Sendable, Hashable {
  var id: UUID
  var paymentID: UUID
  var requestScope: String
  var requestKey: String
  var amount: Money
  var state: RefundState
  var reason: CommerceV1.RefundReason
  var returnID: String
  var note: String
  var providerRefundID: String?
  var needsReview: Bool
  var createdAt: Date
  var updatedAt: Date
}

/// One entry of the payment ledger (payments.payment_events).
struct LedgerEvent: Sendable {
  enum Kind: String, Sendable {
    case authorizeRequested = "AUTHORIZE_REQUESTED"
    case authorizeResult = "AUTHORIZE_RESULT"
    case captureRequested = "CAPTURE_REQUESTED"
    case captureResult = "CAPTURE_RESULT"
    case voidRequested = "VOID_REQUESTED"
    case voidResult = "VOID_RESULT"
    case refundRequested = "REFUND_REQUESTED"
    case refundResult = "REFUND_RESULT"
    case providerUnavailable = "PROVIDER_UNAVAILABLE"
    case providerRejected = "PROVIDER_REJECTED"
    case providerEvent = "PROVIDER_EVENT"
  }

  var kind: Kind
  var refundID: UUID? = nil
  var providerKey: String? = nil
  var providerID: String? = nil
  var providerEventID: String? = nil
  var providerEventKind: String? = nil
  var outcome: String? = nil
  var amount: Money? = nil
  var statusBefore: String? = nil
  var statusAfter: String? = nil
  var flagged = false
  var actor: String
  var detail: String? = nil
}

/// What a provider event does to a payment (ReportProviderEvent): events only move a payment
/// forward; one that arrives after the payment moved past it is LATE (recorded, nothing
/// changes); one that contradicts the payment's state is a CONTRADICTION (recorded and flagged
/// for admin review). Some events are flagged whatever the state (a failed capture, a dispute).
enum ProviderEventRule {
  enum Effect: Equatable, Sendable {
    /// Move the payment to this state.
    case move(PaymentState)
    /// Settle a pending refund (succeeded or failed).
    case settleRefund(RefundState)
    /// Nothing to change; the event is recorded as late.
    case late
    /// Nothing to change; the event is recorded and flagged.
    case contradiction
    /// Nothing to change; the event is recorded and flagged (it always needs a person).
    case review
  }

  /// The effect of an event of `kind` on a payment in `state` (for refund events, `refund` is
  /// the refund's state).
  static func effect(
    of kind: CommerceV1.ProviderEventKind, on state: PaymentState, captureImmediately: Bool, refund: RefundState? = nil
  ) -> Effect {
    switch kind {
    case .authorizationSucceeded:
      if state == .pending { return .move(captureImmediately ? .captured : .authorized) }
      return state == .declined || state == .failed ? .contradiction : .late
    case .authorizationDeclined:
      if state == .pending { return .move(.declined) }
      return state == .declined ? .late : .contradiction
    case .authorizationFailed:
      if state == .pending { return .move(.failed) }
      return state == .failed ? .late : .contradiction
    case .authorizationExpired:
      if state == .authorized { return .move(.voided) }
      return state == .voided ? .late : .contradiction
    case .captureSucceeded:
      if state.isCaptured { return .late }
      return state == .authorized ? .move(.captured) : .contradiction
    case .captureFailed, .disputeOpened:
      return .review
    case .refundSucceeded:
      switch refund {
      case .pending?: return .settleRefund(.succeeded)
      case .succeeded?: return .late
      case .failed?, nil: return .contradiction
      }
    case .refundFailed:
      switch refund {
      case .pending?: return .settleRefund(.failed)
      case .failed?: return .late
      case .succeeded?, nil: return .contradiction
      }
    case .unspecified, .unrecognized:
      return .contradiction
    }
  }

  /// The payment state after its refunds changed: REFUNDED once everything captured was
  /// refunded successfully, PARTIALLY_REFUNDED once something was, CAPTURED otherwise.
  static func stateAfterRefunds(captured: Int64, succeeded: Int64) -> PaymentState {
    if succeeded <= 0 { return .captured }
    return succeeded >= captured ? .refunded : .partiallyRefunded
  }
}
