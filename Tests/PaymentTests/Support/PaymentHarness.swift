import CommerceAPI
import CommerceAuth
import CommerceKit
import CommerceTestSupport
import Crypto
import EmporiumApp
import Foundation
import Messages
import Postgres
import RPC
import Synchronization
import Testing

@testable import CommercePayments

/// Where the harness's sandbox runs: in-process (a function call away), or behind its HTTP API
/// on 127.0.0.1 (``SandboxHTTPServer``), reached by ``HTTPPaymentProvider`` and reporting its
/// events to ReportProviderEvent over RPC (``RPCWebhookDelivery``), as `emporium
/// payment-sandbox` does.
enum SandboxPlacement: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case inProcess, network

  var testDescription: String { rawValue }
}

/// AuthService and PaymentService hosted as `emporium serve` hosts them (``TestApp``), with the
/// sandbox provider, whose faults the test injects and whose own records it reads, in-process or
/// over the network (``SandboxPlacement``). With `orders`, a stand-in OrderService (identity
/// "orders") records the ApplyOrderEvent calls the relay makes.
struct PaymentHarness {
  let host: TestApp
  let service: PaymentService
  /// The sandbox provider (over the network: the engine behind the HTTP server).
  let sandbox: SandboxProvider
  let orderEvents: RecordingOrderService?
  /// Over the network: the sandbox's HTTP server, its port, and the deliveries of its events.
  let network: NetworkSandbox?
  /// An ADMIN user, the service identities "orders" and "payment-gateway", and a customer.
  let admin: CallOptions
  let orders: CallOptions
  let gateway: CallOptions
  let customer: CallOptions
  let customerID: String
  var pool: PostgresPool { host.pool }
  var payments: CommerceV1.PaymentService.Client { .init(host.connection) }

  static let visa = "4242 4242 4242 4242"

  static func run<Result>(
    _ placement: SandboxPlacement = .inProcess,
    adjust: @escaping @Sendable (inout PaymentService.Configuration) -> Void = { _ in }, withOrders: Bool = false,
    asynchronousDelay: Duration = .seconds(1), authorizationHold: Duration? = nil, _ body: (PaymentHarness) async throws -> Result
  ) async throws -> Result {
    var sandboxConfiguration = SandboxProvider.Configuration()
    sandboxConfiguration.asynchronousDelay = asynchronousDelay
    var adjust = adjust
    if let authorizationHold {
      // The provider's hold and the one PaymentService shows agree, as in a deployment.
      sandboxConfiguration.authorizationHold = authorizationHold
      adjust = { [adjust] configuration in
        configuration.authorizationHold = SandboxProvider.seconds(authorizationHold)
        adjust(&configuration)
      }
    }
    sandboxConfiguration.initialRetryDelay = .milliseconds(20)
    sandboxConfiguration.maximumRetryDelay = .milliseconds(200)
    let sandboxSettings = sandboxConfiguration
    let webhookSecret = SymmetricKey(size: .bits256)
    let sandbox = SandboxProvider(webhookSecret: webhookSecret, configuration: sandboxSettings)
    return try await NetworkSandbox.run(placement == .network ? sandbox : nil) { network in
      try await host(
        sandbox: sandbox, network: network, webhookSecret: webhookSecret, adjust: adjust, withOrders: withOrders, body)
    }
  }

  private static func host<Result>(
    sandbox: SandboxProvider, network: NetworkSandbox?, webhookSecret: SymmetricKey,
    adjust: @escaping @Sendable (inout PaymentService.Configuration) -> Void, withOrders: Bool,
    _ body: (PaymentHarness) async throws -> Result
  ) async throws -> Result {
    let made = Made<PaymentService>()
    let port = network?.port
    // Over the network the declaration makes its HTTPPaymentProvider from the configuration.
    var inProcess: (@Sendable (PaymentService.Configuration) -> any PaymentProvider)?
    if port == nil { inProcess = { _ in sandbox } }
    let declaration = PaymentService.makeDeclaration(
      ordersPeer: withOrders,
      adjust: { configuration in
        configuration.webhookSecret = webhookSecret
        configuration.providerTimeout = .milliseconds(500)
        configuration.retryAfter = .milliseconds(200)
        configuration.ordersRelay = withOrders
        if let port {
          // A loopback HTTP exchange hops between threads a loaded machine may keep busy: more
          // room than a function call needs. The faults that hang wait it out.
          configuration.providerTimeout = .seconds(5)
          configuration.networkProvider = HTTPPaymentProvider.Configuration(host: "127.0.0.1", port: port, apiKey: NetworkSandbox.apiKey)
          configuration.requireSignedEvents = true
        }
        adjust(&configuration)
      },
      provider: inProcess,
      made: { service, _ in made.set(service) })
    let recorder = withOrders ? RecordingOrderService() : nil
    var services = [AuthService.declaration, declaration]
    if let recorder {
      services.append(
        ServiceDeclaration(name: "orders", schema: "orders_stub", migrations: []) { _ in HostedService(rpc: recorder) })
    }
    return try await TestApp.run("payments", services: services) { host in
      let customerID = UUID().uuidString.lowercased()
      let harness = PaymentHarness(
        host: host, service: made.service, sandbox: sandbox, orderEvents: recorder, network: network,
        admin: try await host.user(roles: [.admin]), orders: try await host.service("orders"),
        gateway: try await host.service("payment-gateway"), customer: try await host.user(customerID, roles: [.customer]),
        customerID: customerID)
      guard let network else { return try await body(harness) }
      return try await network.deliveringEvents(to: host) { try await body(harness) }
    }
  }

  // MARK: Requests

  static func card(_ number: String = visa, month: Int32 = 12, year: Int32 = 2040, cvc: String = "123") -> CommerceV1.PaymentMethod {
    .with {
      $0.method = .testCard(
        .with {
          $0.number = number
          $0.expMonth = month
          $0.expYear = year
          $0.cvc = cvc
        })
    }
  }

  func authorizeRequest(
    _ method: CommerceV1.PaymentMethod = card(), amount: Int64 = 5000, order: String = UUID().uuidString.lowercased(),
    customer: String? = nil, captureImmediately: Bool = false, key: String = UUID().uuidString
  ) -> CommerceV1.AuthorizePaymentRequest {
    .with {
      $0.orderId = order
      $0.customerId = customer ?? customerID
      $0.amount = TestApp.usd(amount)
      $0.paymentMethod = method
      $0.captureImmediately = captureImmediately
      $0.idempotencyKey = key
    }
  }

  /// Authorizes as OrderService.
  func authorize(
    _ method: CommerceV1.PaymentMethod = card(), amount: Int64 = 5000, order: String = UUID().uuidString.lowercased(),
    captureImmediately: Bool = false, key: String = UUID().uuidString
  ) async throws -> CommerceV1.Payment {
    try await payments.authorizePayment(
      authorizeRequest(method, amount: amount, order: order, captureImmediately: captureImmediately, key: key), options: orders
    ).payment!
  }

  func capture(_ payment: String, amount: CommerceV1.Money? = nil, key: String = UUID().uuidString) async throws -> CommerceV1.Payment {
    try await payments.capturePayment(
      .with {
        $0.paymentId = payment
        if let amount { $0.amount = amount }
        $0.idempotencyKey = key
      }, options: orders
    ).payment!
  }

  func refund(
    _ payment: String, amount: CommerceV1.Money? = nil, key: String = UUID().uuidString, as caller: CallOptions? = nil
  ) async throws -> CommerceV1.RefundPaymentResponse {
    try await payments.refundPayment(
      .with {
        $0.paymentId = payment
        if let amount { $0.amount = amount }
        $0.reason = .customerReturn
        $0.idempotencyKey = key
      }, options: caller ?? orders)
  }

  func get(_ payment: String, as caller: CallOptions? = nil) async throws -> CommerceV1.Payment {
    try await payments.getPayment(.with { $0.paymentId = payment }, options: caller ?? admin).payment!
  }

  /// The payment's ledger kinds, oldest first.
  func ledger(_ payment: String) async throws -> [String] {
    try await service.store.ledger(of: UUID(id: payment)!).map(\.kind)
  }
}

/// A stand-in for OrderService that records the ApplyOrderEvent calls it gets; its first
/// `failures` calls fail with UNAVAILABLE (the relay must retry).
final class RecordingOrderService: CommerceV1.OrderService.ServiceProtocol {
  private let state = Mutex<(events: [CommerceV1.ApplyOrderEventRequest], failures: Int)>(([], 0))

  var events: [CommerceV1.ApplyOrderEventRequest] { state.withLock { $0.events } }

  func failNext(_ count: Int) { state.withLock { $0.failures = count } }

  func applyOrderEvent(request: CommerceV1.ApplyOrderEventRequest, context: ServerContext) async throws
    -> CommerceV1.ApplyOrderEventResponse
  {
    try state.withLock { state in
      if state.failures > 0 {
        state.failures -= 1
        throw RPCError(code: .unavailable, message: "not now")
      }
      let duplicate = state.events.contains { $0.eventId == request.eventId }
      if !duplicate { state.events.append(request) }
    }
    return .with { $0.order = .with { $0.orderId = request.orderId } }
  }

  func checkout(request: CommerceV1.CheckoutRequest, context: ServerContext) async throws -> CommerceV1.CheckoutResponse {
    throw RPCError(code: .unimplemented, message: "stand-in")
  }

  func getOrder(request: CommerceV1.GetOrderRequest, context: ServerContext) async throws -> CommerceV1.GetOrderResponse {
    throw RPCError(code: .unimplemented, message: "stand-in")
  }

  func listOrders(request: CommerceV1.ListOrdersRequest, context: ServerContext) async throws -> CommerceV1.ListOrdersResponse {
    throw RPCError(code: .unimplemented, message: "stand-in")
  }

  func cancelOrder(request: CommerceV1.CancelOrderRequest, context: ServerContext) async throws -> CommerceV1.CancelOrderResponse {
    throw RPCError(code: .unimplemented, message: "stand-in")
  }

  func watchOrder(
    request: CommerceV1.WatchOrderRequest, response: ResponseStreamWriter<CommerceV1.WatchOrderResponse>, context: ServerContext
  ) async throws {
    throw RPCError(code: .unimplemented, message: "stand-in")
  }
  func getOrderStats(request: CommerceV1.GetOrderStatsRequest, context: ServerContext) async throws -> CommerceV1.GetOrderStatsResponse {
    throw RPCError(code: .unimplemented, message: "stand-in")
  }
}
