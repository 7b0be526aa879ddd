import CommerceAPI
public import CommerceKit
import Crypto
import Foundation
public import Postgres

extension PaymentService {
  /// The directory of the schema's migrations, shipped as the target's resources.
  public static var migrationsDirectory: String {
    Bundle.module.url(forResource: "Migrations", withExtension: nil)!.path
  }

  /// The migrations of schema `payments`.
  public static let migrations: [Migration] = {
    do {
      return try Migration.load(directory: migrationsDirectory)
    } catch {
      fatalError("the payments migrations shipped with the target cannot be read: \(error)")
    }
  }()

  /// What the composition root needs: identity "payments", schema "payments", peer "orders",
  /// the sandbox provider (its webhook deliveries run as background work), the idempotency sweep
  /// and, when enabled, the relay of asynchronous results to OrderService.
  ///
  /// Settings:
  /// - `sandbox`: `on` (default) accepts raw test cards and uses the in-process sandbox
  ///   provider; `off` refuses raw cards (TEST_CARD_NOT_ALLOWED) and needs a real provider, of
  ///   which there is none yet, so the service does not start.
  /// - `webhook-secret`: the secret shared with the provider for webhook signatures (at least
  ///   32 bytes); a random one per process by default (the in-process sandbox shares it).
  /// - `provider-timeout-ms`: how long a provider request may take (default 10000).
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
    ServiceDeclaration(name: "payments", schema: "payments", migrations: migrations, peers: ordersPeer ? ["orders"] : []) { environment in
      var configuration = try Configuration(settings: environment.settings)
      adjust(&configuration)
      configuration.ordersRelay = configuration.ordersRelay && ordersPeer
      let provider: any PaymentProvider
      if let makeProvider {
        provider = makeProvider(configuration)
      } else {
        guard configuration.sandboxMode else {
          throw CommerceError.invalidArgument(
            field: "sandbox", "sandbox mode is off, but no payment provider other than the sandbox exists yet")
        }
        provider = SandboxProvider(webhookSecret: configuration.webhookSecret)
      }
      let service = PaymentService(
        pool: environment.pool, provider: provider,
        orders: configuration.ordersRelay ? environment.peers.transport(for: "orders") : nil, configuration: configuration,
        logger: environment.logger)
      var background = service.backgroundServices
      if let sandbox = provider as? SandboxProvider {
        let webhook = service.webhook
        sandbox.connectWebhook { delivery in _ = try await webhook.receive(delivery) }
        background.append(sandbox.webhookSender(logger: environment.logger))
      }
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
    if let relay = settings["orders-relay"] {
      guard relay == "on" || relay == "off" else { throw CommerceError.invalidArgument(field: "orders-relay", "must be on or off") }
      ordersRelay = relay == "on"
    }
  }
}
