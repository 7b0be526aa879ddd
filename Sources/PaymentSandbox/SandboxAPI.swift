public import CommercePayments
import CommerceKit
import Crypto
import Foundation
import NIOHTTP1

/// The payment sandbox's HTTP API (``ProviderWire``) over a ``SandboxProvider``, which does all
/// the work: the test cards, its own records by forwarded key, latency, faults and webhook
/// events behave exactly as in-process. This type only checks the API key and translates
/// between JSON and the provider's requests; it knows nothing of sockets
/// (``SandboxHTTPServer`` carries it).
///
/// Routes (all need `Authorization: Bearer <api key>`; POSTs need `Idempotency-Key`, except the
/// fault control):
/// - `POST /v1/authorizations`, `GET /v1/authorizations?idempotency_key=K`
/// - `POST /v1/captures`, `POST /v1/voids`, `POST /v1/refunds`
/// - `POST /v1/sandbox/faults`: the next requests meet a fault; `GET /v1/sandbox/charges`
///   (optionally `?idempotency_key=K`): the sandbox's records and request counts.
///
/// A request that meets a hang fault never gets an answer: ``respond(to:)`` waits until its
/// task is cancelled (the client went away), then throws CancellationError.
public struct SandboxAPI: Sendable {
  public let sandbox: SandboxProvider
  private let keyDigest: SHA256.Digest

  /// - Parameters:
  ///   - sandbox: the provider that does the work.
  ///   - apiKey: the key clients must present.
  public init(sandbox: SandboxProvider, apiKey: String) {
    self.sandbox = sandbox
    self.keyDigest = SHA256.hash(data: Array(apiKey.utf8))
  }

  /// The answer to `request`.
  public func respond(to request: SandboxHTTPRequest) async throws -> SandboxHTTPResponse {
    guard authorized(request) else {
      return .error(.unauthorized, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)")
    }
    let key = request.headers.first(name: ProviderWire.idempotencyKeyHeader)
    do {
      switch (request.method, request.path) {
      case (.POST, ProviderWire.authorizationsPath):
        return try await authorize(request, key: try required(key))
      case (.GET, ProviderWire.authorizationsPath):
        guard let wanted = request.query["idempotency_key"], !wanted.isEmpty else {
          return .error(.badRequest, "invalid_request", "idempotency_key is required", param: "idempotency_key")
        }
        guard let found = try await sandbox.findAuthorization(idempotencyKey: wanted) else {
          return .error(.notFound, "not_found", "no authorization has that idempotency key")
        }
        return .json(ProviderWire.Authorization(found))
      case (.POST, ProviderWire.capturesPath):
        let body = try decode(ProviderWire.ChargeAmountRequest.self, request)
        let result = try await sandbox.capture(
          ProviderCapture(idempotencyKey: try required(key), providerPaymentID: body.charge, amount: body.amount.money))
        return .json(ProviderWire.Capture(charge: body.charge, captured: .init(result.captured)))
      case (.POST, ProviderWire.voidsPath):
        let body = try decode(ProviderWire.VoidRequest.self, request)
        _ = try await sandbox.void(ProviderVoid(idempotencyKey: try required(key), providerPaymentID: body.charge))
        return .json(ProviderWire.Voided(charge: body.charge))
      case (.POST, ProviderWire.refundsPath):
        let body = try decode(ProviderWire.ChargeAmountRequest.self, request)
        let result = try await sandbox.refund(
          ProviderRefund(idempotencyKey: try required(key), providerPaymentID: body.charge, amount: body.amount.money))
        return .json(ProviderWire.Refund(result))
      case (.POST, ProviderWire.faultsPath):
        return try injectFault(request)
      case (.GET, ProviderWire.chargesPath):
        var charges = sandbox.charges
        if let wanted = request.query["idempotency_key"] { charges = charges.filter { $0.idempotencyKey == wanted } }
        var requests: [String: Int] = [:]
        for operation in [SandboxProvider.Operation.authorize, .capture, .void, .refund] {
          requests[operation.rawValue] = sandbox.requestCount(operation)
        }
        return .json(ProviderWire.Charges(charges: charges.map(ProviderWire.Charge.init).sorted { $0.id < $1.id }, requests: requests))
      case (_, ProviderWire.authorizationsPath), (_, ProviderWire.capturesPath), (_, ProviderWire.voidsPath),
        (_, ProviderWire.refundsPath), (_, ProviderWire.faultsPath), (_, ProviderWire.chargesPath):
        return .error(.methodNotAllowed, "method_not_allowed", "\(request.method.rawValue) is not allowed on \(request.path)")
      default:
        return .error(.notFound, "not_found", "no such path")
      }
    } catch let error as ProviderError {
      switch error {
      case .invalidRequest(let field, let message):
        return .error(.badRequest, "invalid_request", message, param: field)
      case .rejected(let message):
        return .error(.conflict, "rejected", message)
      case .unavailable(let message):
        return .error(.serviceUnavailable, "unavailable", message)
      }
    } catch let error as BadRequest {
      return .error(.badRequest, "invalid_request", error.message, param: error.param)
    }
  }

  // MARK: Routes

  private func authorize(_ request: SandboxHTTPRequest, key: String) async throws -> SandboxHTTPResponse {
    let body = try decode(ProviderWire.AuthorizationRequest.self, request)
    let method: ProviderPaymentMethod
    switch (body.paymentMethod.card, body.paymentMethod.token) {
    case (let card?, nil):
      method = .card(PaymentCard(number: card.number, expMonth: card.expMonth, expYear: card.expYear, cvc: card.cvc))
    case (nil, let token?):
      method = .token(token)
    default:
      throw BadRequest(param: "payment_method", message: "exactly one of card and token is required")
    }
    let result = try await sandbox.authorize(
      ProviderAuthorization(
        idempotencyKey: key, amount: body.amount.money, method: method, captureImmediately: body.captureImmediately,
        reference: body.reference))
    return .json(ProviderWire.Authorization(result))
  }

  private func injectFault(_ request: SandboxHTTPRequest) throws -> SandboxHTTPResponse {
    let body = try decode(ProviderWire.FaultRequest.self, request)
    guard let fault = ProviderWire.fault(named: body.fault) else {
      throw BadRequest(param: "fault", message: "must be refuse, time_out_before_charging or time_out_after_charging")
    }
    var operation: SandboxProvider.Operation?
    if let name = body.operation {
      guard let named = SandboxProvider.Operation(rawValue: name) else {
        throw BadRequest(param: "operation", message: "must be authorize, capture, void or refund")
      }
      operation = named
    }
    let times = body.times ?? 1
    guard (1...1000).contains(times) else { throw BadRequest(param: "times", message: "must be 1 to 1000") }
    sandbox.injectFault(fault, on: operation, times: times)
    return .json(ProviderWire.FaultRequest(fault: body.fault, operation: body.operation, times: times))
  }

  // MARK: Helpers

  private struct BadRequest: Error {
    var param: String?
    var message: String
  }

  /// Whether the request presents the API key (compared in constant time, by digest).
  private func authorized(_ request: SandboxHTTPRequest) -> Bool {
    guard let header = request.headers.first(name: "Authorization"), header.hasPrefix("Bearer ") else { return false }
    return SHA256.hash(data: Array(header.utf8.dropFirst("Bearer ".utf8.count))) == keyDigest
  }

  private func required(_ key: String?) throws -> String {
    guard let key, (1...300).contains(key.utf8.count) else {
      throw BadRequest(param: ProviderWire.idempotencyKeyHeader, message: "the Idempotency-Key header is required (1 to 300 bytes)")
    }
    return key
  }

  private func decode<Body: Decodable>(_ type: Body.Type, _ request: SandboxHTTPRequest) throws -> Body {
    guard let body = ProviderWire.decode(type, from: request.body) else {
      throw BadRequest(param: nil, message: "the body is not the JSON this path takes")
    }
    return body
  }
}
