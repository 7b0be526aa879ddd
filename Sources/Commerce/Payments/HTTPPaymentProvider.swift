import CommerceKit
import Foundation
import NIOCore
import NIOHTTP1
public import ServiceLifecycle

/// A payment provider in another process, reached over HTTP/1.1 with JSON bodies: the API of
/// `emporium payment-sandbox` (``ProviderWire``; docs/PAYMENTS.md, "The sandbox as its own
/// process").
///
/// Each request carries the API key (`Authorization: Bearer`) and the forwarded idempotency key
/// (`Idempotency-Key`), over kept-alive connections that are reused. Each request has a
/// deadline (``Configuration/timeout``). Whatever leaves the outcome unknown — the connection
/// refused or lost, no answer before the deadline, a 5xx answer, an answer that cannot be read —
/// is ``ProviderError/unavailable(_:)``, as the in-process sandbox's faults are, so the caller
/// repeats the request with the same key and the provider answers it with its first answer.
/// A 400 answer is ``ProviderError/invalidRequest(field:_:)``, a 409
/// ``ProviderError/rejected(_:)``; a 401 (a wrong API key) is unavailable: nothing happened.
///
/// Cancelling a request closes its connection.
public final class HTTPPaymentProvider: PaymentProvider {
  public struct Configuration: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// The API key the provider expects.
    public var apiKey: String
    /// The provider's identifier (Payment.provider_id, and the provider_id of its events).
    public var providerID = "sandbox"
    /// How long one request may take.
    public var timeout: Duration = .seconds(10)
    /// Idle connections kept for reuse.
    public var maximumIdleConnections = 8

    public init(host: String, port: Int, apiKey: String) {
      self.host = host
      self.port = port
      self.apiKey = apiKey
    }

    /// The provider at `url`, `http://HOST:PORT` (no path; HTTPS is not supported).
    public init?(url: String, apiKey: String) {
      guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host, !host.isEmpty,
        components.path.isEmpty || components.path == "/", components.query == nil, components.user == nil
      else { return nil }
      self.init(host: host, port: components.port ?? 80, apiKey: apiKey)
    }
  }

  public let configuration: Configuration
  private let client: ProviderHTTPClient

  public init(configuration: Configuration) {
    self.configuration = configuration
    self.client = ProviderHTTPClient(
      configuration: .init(
        host: configuration.host, port: configuration.port, maximumIdleConnections: configuration.maximumIdleConnections))
  }

  public var id: String { configuration.providerID }

  /// Closes the idle connections and keeps none from now on (requests in flight finish first;
  /// later ones still work, each on a connection of its own).
  public func close() { client.close() }

  /// Background work that closes the connections when the process shuts down.
  public var closer: any Service { Closer(provider: self) }

  /// How many connections wait idle for the next request (for tests).
  var idleConnections: Int { client.idleConnections }

  // MARK: PaymentProvider

  public func authorize(_ request: ProviderAuthorization) async throws -> ProviderAuthorizationResult {
    let method: ProviderWire.PaymentMethod
    switch request.method {
    case .card(let card):
      method = .init(card: .init(number: card.number, expMonth: card.expMonth, expYear: card.expYear, cvc: card.cvc))
    case .token(let token):
      method = .init(token: token)
    }
    let body = ProviderWire.AuthorizationRequest(
      amount: .init(request.amount), paymentMethod: method, captureImmediately: request.captureImmediately, reference: request.reference)
    let answer = try await call(.POST, ProviderWire.authorizationsPath, key: request.idempotencyKey, body: body, as: ProviderWire.Authorization.self)
    guard let answer, let result = answer.result else { throw ProviderError.unavailable("the provider's answer cannot be read") }
    return result
  }

  public func findAuthorization(idempotencyKey: String) async throws -> ProviderAuthorizationResult? {
    var query = URLComponents()
    query.queryItems = [URLQueryItem(name: "idempotency_key", value: idempotencyKey)]
    let target = ProviderWire.authorizationsPath + "?" + (query.percentEncodedQuery ?? "")
    guard let answer = try await call(.GET, target, key: nil, body: Optional<ProviderWire.VoidRequest>.none, as: ProviderWire.Authorization.self)
    else { return nil }
    guard let result = answer.result else { throw ProviderError.unavailable("the provider's answer cannot be read") }
    return result
  }

  public func capture(_ request: ProviderCapture) async throws -> ProviderCaptureResult {
    let body = ProviderWire.ChargeAmountRequest(charge: request.providerPaymentID, amount: .init(request.amount))
    guard let answer = try await call(.POST, ProviderWire.capturesPath, key: request.idempotencyKey, body: body, as: ProviderWire.Capture.self)
    else { throw ProviderError.unavailable("the provider's answer cannot be read") }
    return ProviderCaptureResult(captured: answer.captured.money)
  }

  public func void(_ request: ProviderVoid) async throws -> ProviderVoidResult {
    let body = ProviderWire.VoidRequest(charge: request.providerPaymentID)
    guard try await call(.POST, ProviderWire.voidsPath, key: request.idempotencyKey, body: body, as: ProviderWire.Voided.self) != nil
    else { throw ProviderError.unavailable("the provider's answer cannot be read") }
    return ProviderVoidResult()
  }

  public func refund(_ request: ProviderRefund) async throws -> ProviderRefundResult {
    let body = ProviderWire.ChargeAmountRequest(charge: request.providerPaymentID, amount: .init(request.amount))
    guard let answer = try await call(.POST, ProviderWire.refundsPath, key: request.idempotencyKey, body: body, as: ProviderWire.Refund.self),
      let result = answer.result
    else { throw ProviderError.unavailable("the provider's answer cannot be read") }
    return result
  }

  // MARK: HTTP

  /// One request; the decoded answer, nil for a 404 to a GET (nothing recorded under that key),
  /// or a ``ProviderError``.
  private func call<Body: Encodable, Answer: Decodable>(
    _ method: HTTPMethod, _ target: String, key: String?, body: Body?, as answer: Answer.Type
  ) async throws -> Answer? {
    var headers = HTTPHeaders()
    headers.add(name: "Authorization", value: "Bearer " + configuration.apiKey)
    headers.add(name: "Accept", value: "application/json")
    if let key { headers.add(name: ProviderWire.idempotencyKeyHeader, value: key) }
    var bytes: [UInt8] = []
    if let body {
      bytes = ProviderWire.encode(body)
      headers.add(name: "Content-Type", value: "application/json")
    }
    let response: ProviderHTTPClient.Response
    do {
      response = try await client.send(.init(method: method, target: target, headers: headers, body: bytes), timeout: configuration.timeout)
    } catch let failure as ProviderHTTPClient.Failure {
      throw ProviderError.unavailable(failure.description)
    }
    let error = ProviderWire.decode(ProviderWire.ErrorBody.self, from: response.body)?.error
    switch response.status.code {
    case 200..<300:
      guard let decoded = ProviderWire.decode(Answer.self, from: response.body) else {
        throw ProviderError.unavailable("the provider's answer cannot be read")
      }
      return decoded
    case 400:
      throw ProviderError.invalidRequest(field: error?.param ?? "payment_method", error?.message ?? "the provider refused the request")
    case 404 where method == .GET && error?.type == "not_found":
      return nil
    case 409:
      throw ProviderError.rejected(error?.message ?? "the provider refused the operation")
    case 401, 403:
      throw ProviderError.unavailable("the provider refused our API key (HTTP \(response.status.code))")
    default:
      throw ProviderError.unavailable("HTTP \(response.status.code)" + (error.map { ": " + $0.message } ?? ""))
    }
  }

  /// Closes the provider's connections at graceful shutdown.
  struct Closer: Service {
    let provider: HTTPPaymentProvider

    func run() async throws {
      try? await gracefulShutdown()
      provider.close()
    }
  }
}
