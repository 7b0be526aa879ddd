public import CommerceAPI
public import CommerceKit

/// A payment provider as PaymentService sees it: authorize, capture, void and refund, each
/// request carrying the forwarded idempotency key "<method>:<idempotency_key>"
/// (payments.proto). The provider keeps its own record of every request by that key, so a
/// request repeated with the same key returns the first answer and never moves money twice —
/// also when our own record of the first attempt was lost.
///
/// Answers that the provider settles later arrive as provider events through ``ProviderWebhook``
/// (ReportProviderEvent). Implementations: the in-process ``SandboxProvider``, and
/// ``HTTPPaymentProvider`` for a provider in another process reached over HTTP (`emporium
/// payment-sandbox`, which serves the same sandbox).
///
/// Errors: ``ProviderError``. A request that fails with ``ProviderError/unavailable(_:)`` has an
/// unknown outcome and is repeated with the same key.
public protocol PaymentProvider: Sendable {
  /// The provider's identifier, for example "sandbox" (Payment.provider_id, and the provider_id
  /// of its events).
  var id: String { get }
  func authorize(_ request: ProviderAuthorization) async throws -> ProviderAuthorizationResult
  func capture(_ request: ProviderCapture) async throws -> ProviderCaptureResult
  func void(_ request: ProviderVoid) async throws -> ProviderVoidResult
  func refund(_ request: ProviderRefund) async throws -> ProviderRefundResult
  /// The provider's record of the authorization sent with forwarded key `idempotencyKey`, as
  /// it would answer it now; nil when no authorization with that key ever reached the provider.
  /// Reconciliation asks it about payments whose authorization got no answer (a server died
  /// or a call timed out under it), without needing the payment method again.
  func findAuthorization(idempotencyKey: String) async throws -> ProviderAuthorizationResult?
}

/// How the customer pays, as sent to the provider.
public enum ProviderPaymentMethod: Sendable, Hashable {
  /// A raw card (sandbox mode only).
  case card(PaymentCard)
  /// A card token from the provider's client-side tokenization.
  case token(String)
}

/// Hold (and possibly capture) an amount.
public struct ProviderAuthorization: Sendable {
  /// "AuthorizePayment:<idempotency_key>".
  public var idempotencyKey: String
  public var amount: Money
  public var method: ProviderPaymentMethod
  public var captureImmediately: Bool
  /// Our payment id, for the provider's records.
  public var reference: String

  public init(idempotencyKey: String, amount: Money, method: ProviderPaymentMethod, captureImmediately: Bool, reference: String) {
    self.idempotencyKey = idempotencyKey
    self.amount = amount
    self.method = method
    self.captureImmediately = captureImmediately
    self.reference = reference
  }
}

/// The provider's answer to an authorization.
public struct ProviderAuthorizationResult: Sendable, Hashable {
  public enum Outcome: Sendable, Hashable {
    /// The amount is held.
    case authorized
    /// Held and collected at once (capture_immediately).
    case captured
    /// Declined: a business outcome, not an error.
    case declined(CommerceV1.DeclineReason)
    /// Not known yet; a provider event settles it.
    case pending
  }

  public var providerPaymentID: String
  public var outcome: Outcome
  /// The provider's message about a decline, for support staff; empty otherwise.
  public var message: String
  /// What the provider says about the card (brand, last four, expiry), when it says.
  public var card: CardSummary?

  public init(providerPaymentID: String, outcome: Outcome, message: String = "", card: CardSummary? = nil) {
    self.providerPaymentID = providerPaymentID
    self.outcome = outcome
    self.message = message
    self.card = card
  }
}

/// Collect an authorized payment (all or part of it).
public struct ProviderCapture: Sendable {
  /// "CapturePayment:<idempotency_key>".
  public var idempotencyKey: String
  public var providerPaymentID: String
  public var amount: Money

  public init(idempotencyKey: String, providerPaymentID: String, amount: Money) {
    self.idempotencyKey = idempotencyKey
    self.providerPaymentID = providerPaymentID
    self.amount = amount
  }
}

public struct ProviderCaptureResult: Sendable, Hashable {
  /// The amount collected.
  public var captured: Money

  public init(captured: Money) { self.captured = captured }
}

/// Release an authorization's hold.
public struct ProviderVoid: Sendable {
  /// "VoidPayment:<payment_id>" (VoidPayment carries no idempotency key; a payment is voided
  /// at most once).
  public var idempotencyKey: String
  public var providerPaymentID: String

  public init(idempotencyKey: String, providerPaymentID: String) {
    self.idempotencyKey = idempotencyKey
    self.providerPaymentID = providerPaymentID
  }
}

public struct ProviderVoidResult: Sendable, Hashable {
  public init() {}
}

/// Return captured money.
public struct ProviderRefund: Sendable {
  /// "RefundPayment:<idempotency_key>".
  public var idempotencyKey: String
  public var providerPaymentID: String
  public var amount: Money

  public init(idempotencyKey: String, providerPaymentID: String, amount: Money) {
    self.idempotencyKey = idempotencyKey
    self.providerPaymentID = providerPaymentID
    self.amount = amount
  }
}

public struct ProviderRefundResult: Sendable, Hashable {
  public enum Outcome: Sendable, Hashable {
    case succeeded
    /// Settled later by a REFUND_SUCCEEDED or REFUND_FAILED event.
    case pending
    case failed
  }

  public var providerRefundID: String
  public var outcome: Outcome
  public var message: String

  public init(providerRefundID: String, outcome: Outcome, message: String = "") {
    self.providerRefundID = providerRefundID
    self.outcome = outcome
    self.message = message
  }
}

/// Why a provider request did not get an answer.
public enum ProviderError: Error, Sendable, Hashable {
  /// The provider could not be reached, refused the connection or did not answer in time: the
  /// outcome is unknown (repeat with the same key).
  case unavailable(String)
  /// The provider says the request is malformed (a card or token it does not accept); `field`
  /// names the request field ("payment_method.card_token").
  case invalidRequest(field: String, String)
  /// The provider refused the operation in the charge's current state (capturing a voided
  /// charge, refunding more than was captured).
  case rejected(String)
}
