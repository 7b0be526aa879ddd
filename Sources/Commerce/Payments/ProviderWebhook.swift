public import CommerceAPI
import CommerceKit
public import Crypto
public import Foundation
import Messages
public import RPC

/// One webhook delivery from a payment provider: the body (a serialized
/// ReportProviderEventRequest), when the provider sent it, and its signature, lower-case hex of
/// HMAC-SHA256 with the shared secret over "<timestamp>." followed by the body.
public struct WebhookDelivery: Sendable, Hashable {
  public var body: [UInt8]
  /// Seconds since 1970 when the provider signed it.
  public var timestamp: Int64
  public var signature: String

  public init(body: [UInt8], timestamp: Int64, signature: String) {
    self.body = body
    self.timestamp = timestamp
    self.signature = signature
  }

  /// A delivery of `event` signed with `secret` at `date`.
  public static func signed(_ event: CommerceV1.ReportProviderEventRequest, secret: SymmetricKey, at date: Date) throws -> WebhookDelivery {
    let body = try event.serializedBytes()
    let timestamp = Int64(date.timeIntervalSince1970.rounded(.down))
    return WebhookDelivery(body: body, timestamp: timestamp, signature: signature(body: body, timestamp: timestamp, secret: secret))
  }

  /// The signature of `body` sent at `timestamp`.
  public static func signature(body: [UInt8], timestamp: Int64, secret: SymmetricKey) -> String {
    let mac = HMAC<SHA256>.authenticationCode(for: signedBytes(body: body, timestamp: timestamp), using: secret)
    return mac.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
  }

  static func signedBytes(body: [UInt8], timestamp: Int64) -> [UInt8] {
    Array("\(timestamp).".utf8) + body
  }
}

/// The receiving end of the provider's webhooks, in front of ReportProviderEvent: it verifies
/// the HMAC-SHA256 signature (in constant time) and the timestamp (a delivery older or newer
/// than ``tolerance`` is refused, so a captured delivery cannot be replayed later), then applies
/// the event as the "payment-gateway" service identity through the same code path as
/// ReportProviderEvent. Duplicates (deliveries are at least once) are applied once, by the
/// event's (provider_id, provider_event_id).
///
/// Refusals throw UNAUTHENTICATED (the provider does not retry them); errors of the event itself
/// are ReportProviderEvent's (NOT_FOUND while our record is not committed yet: the provider
/// retries with backoff).
///
/// A provider in another process calls ReportProviderEvent itself, with the delivery's timestamp
/// and signature in the call's metadata; ReportProviderEvent checks them the same way
/// (``authenticate(_:metadata:required:)``) before it applies the event.
public struct ProviderWebhook: Sendable {
  let secret: SymmetricKey
  /// How far a delivery's timestamp may be from now.
  let tolerance: TimeInterval
  let now: @Sendable () -> Date
  let apply: @Sendable (CommerceV1.ReportProviderEventRequest) async throws -> CommerceV1.ReportProviderEventResponse

  /// The identity events from the webhook are applied as.
  public static let gatewayIdentity = "payment-gateway"

  /// Where a ReportProviderEvent call carries a delivery's timestamp (decimal seconds since
  /// 1970) and signature (``WebhookDelivery/signature``), when the provider calls it directly
  /// over RPC (`emporium payment-sandbox`); the signed body is the request's serialization.
  public static let timestampMetadataKey = "x-provider-timestamp"
  public static let signatureMetadataKey = "x-provider-signature"

  init(
    secret: SymmetricKey, tolerance: TimeInterval, now: @escaping @Sendable () -> Date,
    apply: @escaping @Sendable (CommerceV1.ReportProviderEventRequest) async throws -> CommerceV1.ReportProviderEventResponse
  ) {
    self.secret = secret
    self.tolerance = tolerance
    self.now = now
    self.apply = apply
  }

  /// Verifies and applies one delivery.
  @discardableResult
  public func receive(_ delivery: WebhookDelivery) async throws -> CommerceV1.ReportProviderEventResponse {
    let request = try verify(delivery)
    return try await apply(request)
  }

  /// The event of a delivery whose signature and timestamp are good.
  public func verify(_ delivery: WebhookDelivery) throws -> CommerceV1.ReportProviderEventRequest {
    try authenticate(delivery)
    do {
      return try CommerceV1.ReportProviderEventRequest(serializedBytes: delivery.body)
    } catch {
      throw CommerceError.invalidArgument(field: "body", "is not a provider event")
    }
  }

  /// Checks a delivery's signature (in constant time) and its timestamp; throws
  /// UNAUTHENTICATED when either is bad.
  public func authenticate(_ delivery: WebhookDelivery) throws {
    guard let mac = Self.bytes(hex: delivery.signature),
      HMAC<SHA256>.isValidAuthenticationCode(
        mac, authenticating: WebhookDelivery.signedBytes(body: delivery.body, timestamp: delivery.timestamp), using: secret)
    else {
      throw CommerceError.unauthenticated("the webhook signature does not match")
    }
    let age = now().timeIntervalSince1970 - Double(delivery.timestamp)
    guard abs(age) <= tolerance else {
      throw CommerceError.unauthenticated("the webhook timestamp is outside the accepted window")
    }
  }

  /// Checks the signature a ReportProviderEvent call carries in its metadata
  /// (``timestampMetadataKey``, ``signatureMetadataKey``) against the request's serialized
  /// bytes. Without a signature it passes unless `required`.
  public func authenticate(_ request: CommerceV1.ReportProviderEventRequest, metadata: Metadata, required: Bool) throws {
    guard let signature = metadata[Self.signatureMetadataKey] else {
      if required { throw CommerceError.unauthenticated("provider events must be signed with the webhook secret") }
      return
    }
    guard let timestamp = metadata[Self.timestampMetadataKey].flatMap({ Int64($0) }) else {
      throw CommerceError.unauthenticated("a signed provider event needs its timestamp")
    }
    try authenticate(WebhookDelivery(body: try request.serializedBytes(), timestamp: timestamp, signature: signature))
  }

  private static func bytes(hex: String) -> [UInt8]? {
    let digits = Array(hex.utf8)
    guard digits.count == 64 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    for index in stride(from: 0, to: 64, by: 2) {
      guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
      bytes.append(high << 4 | low)
    }
    return bytes
  }

  private static func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
  }
}
