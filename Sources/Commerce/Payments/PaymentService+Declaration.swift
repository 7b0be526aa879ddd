import CommerceAPI
public import CommerceKit
import Crypto
import Foundation
public import Postgres

extension PaymentService {
  /// The migrations of schema `payments`, shipped as the target's resources.
  public static let migrations = Migration.shipped(in: .module, schema: "payments")

  /// What the composition root needs: identity "payments", schema "payments", peer "orders",
  /// the provider (the in-process sandbox, whose webhook deliveries run as background work, or
  /// the provider over HTTP the settings name), the idempotency sweep, reconciliation, when
  /// enabled the relay of asynchronous results to OrderService, and, when the process reaches
  /// "notifications" (an optional peer), the relay of payment results to customers.
  ///
  /// Settings:
  /// - `sandbox`: `on` (default) accepts raw test cards; `off` refuses raw cards
  ///   (TEST_CARD_NOT_ALLOWED) and needs a provider over the network (`provider`).
  /// - `provider`: `sandbox` (default) uses the in-process sandbox provider; `http://HOST:PORT`
  ///   uses the provider at that address through ``HTTPPaymentProvider`` (`emporium
  ///   payment-sandbox`), and then needs `provider-api-key` and `webhook-secret`.
  /// - `provider-api-key`: the API key the network provider expects (at least 16 bytes).
  /// - `provider-id`: the network provider's identifier (default `sandbox`).
  /// - `webhook-secret`: the secret shared with the provider for webhook signatures (at least
  ///   32 bytes); a random one per process by default (the in-process sandbox shares it).
  /// - `signed-events`: `required` (the default with a network provider) accepts only
  ///   ReportProviderEvent calls signed with the webhook secret; `optional` (the default with
  ///   the in-process sandbox) also accepts unsigned ones from the payment-gateway identity.
  /// - `provider-timeout-ms`: how long a provider request may take (default 10000).
  /// - `authorization-hold-seconds`: how long an authorization holds before it lapses
  ///   uncaptured (default 604800, 7 days); the in-process sandbox lapses its holds after as
  ///   long, and a network provider should be told the same.
  /// - `orders-relay`: `on` (default) forwards asynchronous authorization results to
  ///   OrderService through the "orders" peer; `off` leaves them in the outbox (OrderService's
  ///   recovery worker still asks PaymentService about payments it waits for).
  public static let declaration = makeDeclaration()

  /// A declaration of the service with `adjust` applied to the configuration read from the
  /// settings, and `makeProvider`'s provider instead of the sandbox (tests use it); `made` gets
  /// the service and its provider once they are made. Without `ordersPeer` the service names no
  /// peer and its relay to OrderService is off (a process, or a test, without OrderService).
  public static func makeDeclaration(
    ordersPeer: Bool = true,
    adjust: @escaping @Sendable (inout Configuration) -> Void = { _ in },
    provider makeProvider: (@Sendable (Configuration) -> any PaymentProvider)? = nil,
    made: (@Sendable (PaymentService, any PaymentProvider) -> Void)? = nil
  ) -> ServiceDeclaration {
    ServiceDeclaration(
      name: "payments", schema: "payments", migrations: migrations, peers: ordersPeer ? ["orders"] : [],
      optionalPeers: ["notifications"]
    ) { environment in
      var configuration = try Configuration(settings: environment.settings)
      adjust(&configuration)
      configuration.ordersRelay = configuration.ordersRelay && ordersPeer
      let provider: any PaymentProvider
      if let makeProvider {
        provider = makeProvider(configuration)
      } else if var endpoint = configuration.networkProvider {
        endpoint.timeout = configuration.providerTimeout
        provider = HTTPPaymentProvider(configuration: endpoint)
      } else {
        guard configuration.sandboxMode else {
          throw CommerceError.invalidArgument(
            field: "sandbox", "sandbox mode is off, but no provider is configured (the setting provider=http://HOST:PORT)")
        }
        var sandbox = SandboxProvider.Configuration()
        sandbox.authorizationHold = .seconds(configuration.authorizationHold)
        provider = SandboxProvider(webhookSecret: configuration.webhookSecret, configuration: sandbox)
      }
      let service = PaymentService(
        pool: environment.pool, provider: provider,
        orders: configuration.ordersRelay ? environment.peers.transport(for: "orders") : nil,
        notifications: environment.peers.has("notifications") ? environment.peers.transport(for: "notifications") : nil,
        configuration: configuration,
        logger: environment.logger)
      var background = service.backgroundServices
      if let sandbox = provider as? SandboxProvider {
        let webhook = service.webhook
        sandbox.connectWebhook { delivery in _ = try await webhook.receive(delivery) }
        background.append(sandbox.webhookSender(logger: environment.logger))
      }
      if let network = provider as? HTTPPaymentProvider { background.append(network.closer) }
      made?(service, provider)
      return HostedService(rpc: service, background: background)
    }
  }
}

extension PaymentService.Configuration {
  /// The configuration the operator's settings give (see ``PaymentService/declaration``).
  init(settings: [String: String]) throws {
    self.init()
    if let sandbox = settings["sandbox"] {
      guard sandbox == "on" || sandbox == "off" else { throw CommerceError.invalidArgument(field: "sandbox", "must be on or off") }
      sandboxMode = sandbox == "on"
    }
    if let secret = settings["webhook-secret"] {
      guard secret.utf8.count >= 32 else { throw CommerceError.invalidArgument(field: "webhook-secret", "must be at least 32 bytes") }
      webhookSecret = SymmetricKey(data: Data(secret.utf8))
    }
    if let text = settings["provider-timeout-ms"] {
      guard let milliseconds = Int64(text), milliseconds > 0 else {
        throw CommerceError.invalidArgument(field: "provider-timeout-ms", "must be a positive number of milliseconds")
      }
      providerTimeout = .milliseconds(milliseconds)
    }
    if let text = settings["authorization-hold-seconds"] {
      guard let seconds = Int64(text), seconds > 0 else {
        throw CommerceError.invalidArgument(field: "authorization-hold-seconds", "must be a positive number of seconds")
      }
      authorizationHold = TimeInterval(seconds)
    }
    switch settings["provider"] {
    case nil, "sandbox"?:
      break
    case let url?:
      guard let key = settings["provider-api-key"], key.utf8.count >= 16 else {
        throw CommerceError.invalidArgument(field: "provider-api-key", "a network provider needs its API key (at least 16 bytes)")
      }
      guard var endpoint = HTTPPaymentProvider.Configuration(url: url, apiKey: key) else {
        throw CommerceError.invalidArgument(field: "provider", "must be sandbox or http://HOST:PORT")
      }
      guard settings["webhook-secret"] != nil else {
        throw CommerceError.invalidArgument(field: "webhook-secret", "a network provider needs the webhook secret it signs events with")
      }
      if let id = settings["provider-id"] {
        guard (1...64).contains(id.utf8.count) else { throw CommerceError.invalidArgument(field: "provider-id", "must be 1 to 64 characters") }
        endpoint.providerID = id
      }
      networkProvider = endpoint
      requireSignedEvents = true
    }
    if let signed = settings["signed-events"] {
      guard signed == "required" || signed == "optional" else {
        throw CommerceError.invalidArgument(field: "signed-events", "must be required or optional")
      }
      requireSignedEvents = signed == "required"
    }
    if let relay = settings["orders-relay"] {
      guard relay == "on" || relay == "off" else { throw CommerceError.invalidArgument(field: "orders-relay", "must be on or off") }
      ordersRelay = relay == "on"
    }
  }
}
