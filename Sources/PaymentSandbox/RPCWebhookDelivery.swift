public import CommerceAPI
public import CommerceKit
public import CommercePayments
import Messages
public import RPC

/// Delivers the sandbox's webhook deliveries to PaymentService.ReportProviderEvent over RPC, as
/// the payment-gateway service identity, the way a provider reports to us from outside: the
/// event is the request, and the delivery's timestamp and HMAC-SHA256 signature travel in the
/// call's metadata (``ProviderWebhook/timestampMetadataKey``,
/// ``ProviderWebhook/signatureMetadataKey``); PaymentService checks them against the request's
/// serialization before it applies the event.
///
/// Connect it as the sandbox's receiver (``SandboxProvider/connectWebhook(_:)``); the
/// sandbox's webhook sender retries every failure with backoff (at least once), except the
/// refusals this type reports as ``CommerceError``: a refused signature or identity
/// (UNAUTHENTICATED, PERMISSION_DENIED, also after a fresh token) and an event PaymentService
/// calls malformed (INVALID_ARGUMENT). Duplicates are PaymentService's to drop (it applies each
/// event once).
public struct RPCWebhookDelivery: Sendable {
  private let payments: CommerceV1.PaymentService.Client
  private let tokens: ClientSecretServiceTokens
  private let timeout: Duration

  /// - Parameters:
  ///   - transport: reaches PaymentService (and AuthService, through `tokens`), without
  ///     credentials of its own.
  ///   - tokens: the payment-gateway identity's tokens.
  ///   - timeout: the deadline of each call.
  public init(transport: any ClientTransport, tokens: ClientSecretServiceTokens, timeout: Duration = .seconds(10)) {
    self.payments = CommerceV1.PaymentService.Client(transport)
    self.tokens = tokens
    self.timeout = timeout
  }

  /// Sends one delivery and returns PaymentService's answer (`duplicate` when it had applied the
  /// event before).
  @discardableResult
  public func deliver(_ delivery: WebhookDelivery) async throws -> CommerceV1.ReportProviderEventResponse {
    let event: CommerceV1.ReportProviderEventRequest
    do {
      event = try CommerceV1.ReportProviderEventRequest(serializedBytes: delivery.body)
    } catch {
      throw CommerceError.invalidArgument(field: "body", "is not a provider event")
    }
    var attempt = 0
    while true {
      attempt += 1
      do {
        var options = CallOptions(timeout: timeout)
        options.metadata.add("authorization", "Bearer " + (try await tokens.token()))
        options.metadata.add(ProviderWebhook.timestampMetadataKey, String(delivery.timestamp))
        options.metadata.add(ProviderWebhook.signatureMetadataKey, delivery.signature)
        return try await payments.reportProviderEvent(event, options: options)
      } catch let error as RPCError where error.code == .unauthenticated && attempt == 1 {
        // The token may have expired or been issued by keys the server no longer has: once
        // more with a new one.
        tokens.invalidate()
      } catch let error as RPCError where error.code == .unauthenticated {
        throw CommerceError.unauthenticated(error.message)
      } catch let error as RPCError where error.code == .permissionDenied {
        throw CommerceError.permissionDenied(error.message)
      } catch let error as RPCError where error.code == .invalidArgument {
        throw CommerceError.invalidArgument(field: "event", error.message)
      }
    }
  }
}
