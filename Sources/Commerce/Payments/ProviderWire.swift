import CommerceAPI
public import CommerceKit
import Foundation

/// The JSON bodies of the payment provider's HTTP API, as `emporium payment-sandbox` serves it
/// and ``HTTPPaymentProvider`` calls it (docs/PAYMENTS.md, "The sandbox as its own process").
///
/// Every request carries `Authorization: Bearer <api key>`; every POST carries the forwarded
/// idempotency key in `Idempotency-Key` and a JSON body. Answers are JSON: 200 with the
/// resource, or an ``ErrorBody`` with 400 (invalid_request), 401 (unauthorized), 404
/// (not_found), 409 (rejected) or 503 (unavailable).
public enum ProviderWire {
  /// The header that carries the forwarded idempotency key.
  public static let idempotencyKeyHeader = "Idempotency-Key"

  /// The paths.
  public static let authorizationsPath = "/v1/authorizations"
  public static let capturesPath = "/v1/captures"
  public static let voidsPath = "/v1/voids"
  public static let refundsPath = "/v1/refunds"
  public static let faultsPath = "/v1/sandbox/faults"
  public static let chargesPath = "/v1/sandbox/charges"

  /// An amount: integer minor units and an ISO 4217 code.
  public struct Amount: Codable, Sendable, Hashable {
    public var amountMinor: Int64
    public var currency: String

    enum CodingKeys: String, CodingKey {
      case amountMinor = "amount_minor"
      case currency
    }

    public init(_ money: Money) {
      amountMinor = money.amountMinor
      currency = money.currency
    }

    public var money: Money { Money(amountMinor: amountMinor, currency: currency) }
  }

  /// A raw test card (sandbox mode only).
  public struct Card: Codable, Sendable, Hashable {
    public var number: String
    public var expMonth: Int
    public var expYear: Int
    public var cvc: String

    enum CodingKeys: String, CodingKey {
      case number, cvc
      case expMonth = "exp_month"
      case expYear = "exp_year"
    }

    public init(number: String, expMonth: Int, expYear: Int, cvc: String) {
      self.number = number
      self.expMonth = expMonth
      self.expYear = expYear
      self.cvc = cvc
    }
  }

  /// What the provider says about a card: never the number.
  public struct CardDetails: Codable, Sendable, Hashable {
    /// A CardBrand value name without its prefix ("VISA").
    public var brand: String
    public var last4: String
    public var expMonth: Int
    public var expYear: Int

    enum CodingKeys: String, CodingKey {
      case brand, last4
      case expMonth = "exp_month"
      case expYear = "exp_year"
    }

    public init(_ summary: CardSummary) {
      brand = summary.brandName
      last4 = summary.lastFour
      expMonth = summary.expMonth
      expYear = summary.expYear
    }

    public var summary: CardSummary {
      let number = ProtoName.number(brand, prefix: "CARD_BRAND_", in: CommerceV1.CardBrand.protoValueNames)
      return CardSummary(
        brand: number.map { CommerceV1.CardBrand(rawValue: $0) } ?? .other, lastFour: last4, expMonth: expMonth, expYear: expYear)
    }
  }

  /// How the customer pays: exactly one of `card` and `token`.
  public struct PaymentMethod: Codable, Sendable, Hashable {
    public var card: Card?
    public var token: String?

    public init(card: Card? = nil, token: String? = nil) {
      self.card = card
      self.token = token
    }
  }

  /// POST /v1/authorizations.
  public struct AuthorizationRequest: Codable, Sendable {
    public var amount: Amount
    public var paymentMethod: PaymentMethod
    public var captureImmediately: Bool
    /// Our payment id, for the provider's records.
    public var reference: String

    enum CodingKeys: String, CodingKey {
      case amount, reference
      case paymentMethod = "payment_method"
      case captureImmediately = "capture_immediately"
    }

    public init(amount: Amount, paymentMethod: PaymentMethod, captureImmediately: Bool, reference: String) {
      self.amount = amount
      self.paymentMethod = paymentMethod
      self.captureImmediately = captureImmediately
      self.reference = reference
    }
  }

  /// An authorization as the provider records it (the answer to POST and GET
  /// /v1/authorizations).
  public struct Authorization: Codable, Sendable, Hashable {
    /// The charge's id ("ch_sbx_…"): Payment.provider_payment_id.
    public var id: String
    /// "authorized", "captured", "declined" or "pending".
    public var status: String
    /// A DeclineReason value name without its prefix ("CARD_DECLINED"), for declines.
    public var declineReason: String?
    public var message: String
    public var card: CardDetails?

    enum CodingKeys: String, CodingKey {
      case id, status, message, card
      case declineReason = "decline_reason"
    }

    public init(_ result: ProviderAuthorizationResult) {
      id = result.providerPaymentID
      message = result.message
      card = result.card.map(CardDetails.init)
      switch result.outcome {
      case .authorized: status = "authorized"
      case .captured: status = "captured"
      case .pending: status = "pending"
      case .declined(let reason):
        status = "declined"
        declineReason = ProtoName.short(CommerceV1.DeclineReason.protoValueNames[reason.rawValue], prefix: "DECLINE_REASON_")
      }
    }

    /// The result this body describes; nil for a status this version does not know.
    public var result: ProviderAuthorizationResult? {
      let outcome: ProviderAuthorizationResult.Outcome
      switch status {
      case "authorized": outcome = .authorized
      case "captured": outcome = .captured
      case "pending": outcome = .pending
      case "declined":
        let number = declineReason.flatMap {
          ProtoName.number($0, prefix: "DECLINE_REASON_", in: CommerceV1.DeclineReason.protoValueNames)
        }
        outcome = .declined(number.map { CommerceV1.DeclineReason(rawValue: $0) } ?? .cardDeclined)
      default: return nil
      }
      return ProviderAuthorizationResult(providerPaymentID: id, outcome: outcome, message: message, card: card?.summary)
    }
  }

  /// POST /v1/captures and POST /v1/refunds.
  public struct ChargeAmountRequest: Codable, Sendable {
    /// The charge's id.
    public var charge: String
    public var amount: Amount

    public init(charge: String, amount: Amount) {
      self.charge = charge
      self.amount = amount
    }
  }

  /// POST /v1/voids.
  public struct VoidRequest: Codable, Sendable {
    public var charge: String

    public init(charge: String) { self.charge = charge }
  }

  /// The answer to POST /v1/captures.
  public struct Capture: Codable, Sendable {
    public var charge: String
    public var captured: Amount

    public init(charge: String, captured: Amount) {
      self.charge = charge
      self.captured = captured
    }
  }

  /// The answer to POST /v1/voids.
  public struct Voided: Codable, Sendable {
    public var charge: String
    /// "voided".
    public var status: String

    public init(charge: String) {
      self.charge = charge
      self.status = "voided"
    }
  }

  /// The answer to POST /v1/refunds.
  public struct Refund: Codable, Sendable {
    /// "re_sbx_…": Refund.provider_refund_id.
    public var id: String
    /// "succeeded", "pending" or "failed".
    public var status: String
    public var message: String

    public init(_ result: ProviderRefundResult) {
      id = result.providerRefundID
      message = result.message
      switch result.outcome {
      case .succeeded: status = "succeeded"
      case .pending: status = "pending"
      case .failed: status = "failed"
      }
    }

    public var result: ProviderRefundResult? {
      let outcome: ProviderRefundResult.Outcome
      switch status {
      case "succeeded": outcome = .succeeded
      case "pending": outcome = .pending
      case "failed": outcome = .failed
      default: return nil
      }
      return ProviderRefundResult(providerRefundID: id, outcome: outcome, message: message)
    }
  }

  /// An error answer: `{"error": {"type": …, "message": …, "param": …}}`.
  public struct ErrorBody: Codable, Sendable {
    public struct Detail: Codable, Sendable {
      /// "invalid_request", "unauthorized", "not_found", "rejected", "unavailable",
      /// "method_not_allowed" or "too_large".
      public var type: String
      public var message: String
      /// The request field an invalid_request names ("payment_method.card_token").
      public var param: String?
    }

    public var error: Detail

    public init(type: String, message: String, param: String? = nil) {
      error = Detail(type: type, message: message, param: param)
    }
  }

  /// POST /v1/sandbox/faults: the next `times` requests (of `operation`, or of any operation)
  /// meet `fault`.
  public struct FaultRequest: Codable, Sendable {
    /// "refuse", "time_out_before_charging" or "time_out_after_charging".
    public var fault: String
    /// "authorize", "capture", "void" or "refund"; any when absent.
    public var operation: String?
    /// Default 1.
    public var times: Int?

    public init(fault: String, operation: String? = nil, times: Int? = nil) {
      self.fault = fault
      self.operation = operation
      self.times = times
    }
  }

  /// The sandbox's record of one charge (GET /v1/sandbox/charges).
  public struct Charge: Codable, Sendable, Hashable {
    public var id: String
    /// The forwarded idempotency key of its authorization.
    public var idempotencyKey: String
    public var amount: Amount
    public var capturedMinor: Int64
    public var refundedMinor: Int64
    /// "pending", "authorized", "captured", "declined" or "voided".
    public var status: String
    public var card: CardDetails

    enum CodingKeys: String, CodingKey {
      case id, amount, status, card
      case idempotencyKey = "idempotency_key"
      case capturedMinor = "captured_minor"
      case refundedMinor = "refunded_minor"
    }

    public init(_ charge: SandboxProvider.Charge) {
      id = charge.id
      idempotencyKey = charge.idempotencyKey
      amount = Amount(charge.amount)
      capturedMinor = charge.captured
      refundedMinor = charge.refunded
      status = charge.status.rawValue
      card = CardDetails(charge.card)
    }
  }

  /// The answer to GET /v1/sandbox/charges: the charges and how many requests of each
  /// operation arrived.
  public struct Charges: Codable, Sendable {
    public var charges: [Charge]
    public var requests: [String: Int]

    public init(charges: [Charge], requests: [String: Int]) {
      self.charges = charges
      self.requests = requests
    }
  }

  /// The wire names of the sandbox's faults.
  public static func fault(named name: String) -> SandboxProvider.Fault? {
    switch name {
    case "refuse": .refuse
    case "time_out_before_charging": .timeOutBeforeCharging
    case "time_out_after_charging": .timeOutAfterCharging
    default: nil
    }
  }

  public static func name(of fault: SandboxProvider.Fault) -> String {
    switch fault {
    case .refuse: "refuse"
    case .timeOutBeforeCharging: "time_out_before_charging"
    case .timeOutAfterCharging: "time_out_after_charging"
    }
  }

  /// A JSON encoder with sorted keys (stable bodies).
  public static func encode(_ value: some Encodable) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding these plain structs cannot fail.
    return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
  }

  public static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) -> Value? {
    try? JSONDecoder().decode(type, from: Data(bytes))
  }
}
