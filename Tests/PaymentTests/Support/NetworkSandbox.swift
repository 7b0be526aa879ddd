import CommerceAPI
import CommerceAuth
import CommerceKit
import CommerceTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PaymentSandbox
import RPC
import ServiceLifecycle
import Synchronization

@testable import CommercePayments

/// The sandbox as `emporium payment-sandbox` runs it, inside the test process: its HTTP server
/// on 127.0.0.1 (an ephemeral port) in front of a ``SandboxProvider``, and its events delivered
/// to ReportProviderEvent over RPC as the payment-gateway identity, which gets its token from
/// AuthService.IssueServiceToken with a client secret. What the deliveries answered is recorded;
/// a test can make the sandbox lose the acknowledgment of the next ones (it then delivers again).
final class NetworkSandbox: Sendable {
  static let apiKey = "sk_sandbox_test_0123456789abcdef"
  static let gatewaySecret = "gateway-secret-0123456789abcdef"

  let sandbox: SandboxProvider
  let server: SandboxHTTPServer
  let port: Int
  private let http: ProviderHTTPClient
  private let state = Mutex<(answers: [CommerceV1.ReportProviderEventResponse], losing: Int)>(([], 0))

  private init(sandbox: SandboxProvider, server: SandboxHTTPServer, port: Int) {
    self.sandbox = sandbox
    self.server = server
    self.port = port
    self.http = ProviderHTTPClient(configuration: .init(host: "127.0.0.1", port: port))
  }

  /// Runs `body` with the sandbox's HTTP server listening (nil `sandbox`: no server, nil given),
  /// and stops the server afterwards.
  static func run<Result>(_ sandbox: SandboxProvider?, _ body: (NetworkSandbox?) async throws -> Result) async throws -> Result {
    guard let sandbox else { return try await body(nil) }
    var configuration = SandboxHTTPServer.Configuration()
    configuration.port = 0
    let server = SandboxHTTPServer(
      api: SandboxAPI(sandbox: sandbox, apiKey: apiKey), configuration: configuration, logger: Logger(label: "payment-sandbox-test"))
    let serving = Task { try await server.run() }
    let network: NetworkSandbox
    do {
      network = NetworkSandbox(sandbox: sandbox, server: server, port: try await server.localAddress().port!)
    } catch {
      serving.cancel()
      throw error
    }
    defer { network.http.close() }
    do {
      let result = try await body(network)
      serving.cancel()
      try await serving.value
      return result
    } catch {
      serving.cancel()
      _ = try? await serving.value
      throw error
    }
  }

  /// Runs `body` while the sandbox delivers its events to `host`'s PaymentService over RPC.
  func deliveringEvents<Result>(to host: TestApp, _ body: () async throws -> Result) async throws -> Result {
    try await AuthService.provisionServiceIdentity(
      name: ProviderWebhook.gatewayIdentity, clientSecret: Self.gatewaySecret, pool: host.pool,
      hasher: PasswordHasher(iterations: 1, memoryBytes: 64 * 1024))
    let tokens = ClientSecretServiceTokens(
      transport: host.connection, serviceName: ProviderWebhook.gatewayIdentity, clientSecret: Self.gatewaySecret)
    let delivery = RPCWebhookDelivery(transport: host.connection, tokens: tokens)
    sandbox.connectWebhook { [self] webhook in
      let answer = try await delivery.deliver(webhook)
      let lose = state.withLock { state in
        state.answers.append(answer)
        guard state.losing > 0 else { return false }
        state.losing -= 1
        return true
      }
      if lose { throw AcknowledgmentLost() }
    }
    let sending = Task { try await sandbox.webhookSender(logger: Logger(label: "payment-sandbox-test")).run() }
    defer { sending.cancel() }
    return try await body()
  }

  struct AcknowledgmentLost: Error {}

  /// What PaymentService answered to each delivery, in order (repeated deliveries included).
  var answers: [CommerceV1.ReportProviderEventResponse] { state.withLock { $0.answers } }

  /// The next `count` deliveries are applied, but the sandbox does not learn it: it delivers
  /// them again.
  func loseAcknowledgments(_ count: Int) { state.withLock { $0.losing += count } }

  /// One request to the sandbox's HTTP API, with the API key unless `apiKey` says otherwise.
  func request(
    _ method: HTTPMethod, _ target: String, body: (some Encodable)? = Optional<ProviderWire.VoidRequest>.none,
    apiKey: String? = NetworkSandbox.apiKey, idempotencyKey: String? = nil
  ) async throws -> ProviderHTTPClient.Response {
    var headers = HTTPHeaders()
    if let apiKey { headers.add(name: "Authorization", value: "Bearer " + apiKey) }
    if let idempotencyKey { headers.add(name: ProviderWire.idempotencyKeyHeader, value: idempotencyKey) }
    var bytes: [UInt8] = []
    if let body {
      bytes = ProviderWire.encode(body)
      headers.add(name: "Content-Type", value: "application/json")
    }
    return try await http.send(.init(method: method, target: target, headers: headers, body: bytes), timeout: .seconds(10))
  }

  /// The sandbox's own records, read over its API (`GET /v1/sandbox/charges`).
  func records(forKey key: String? = nil) async throws -> ProviderWire.Charges? {
    var target = ProviderWire.chargesPath
    if let key {
      var query = URLComponents()
      query.queryItems = [URLQueryItem(name: "idempotency_key", value: key)]
      target += "?" + (query.percentEncodedQuery ?? "")
    }
    let response = try await request(.GET, target)
    return ProviderWire.decode(ProviderWire.Charges.self, from: response.body)
  }
}
