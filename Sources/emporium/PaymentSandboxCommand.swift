import ArgumentParser
import CommerceAPI
import CommerceKit
import CommercePayments
import Crypto
import Foundation
import Logging
import PaymentSandbox
import RPC
import ServiceLifecycle
import UnixSignals

/// `emporium payment-sandbox`: the sandbox payment provider as its own process, an HTTP/JSON
/// API that `emporium serve --setting payments.provider=http://HOST:PORT` reaches over the
/// network (docs/PAYMENTS.md, "The sandbox as its own process").
struct PaymentSandboxCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "payment-sandbox",
    abstract: "Run the sandbox payment provider as its own process (HTTP/JSON), until SIGTERM or SIGINT.",
    discussion: """
      The sandbox follows payments.proto's test cards and keeps its own record of every request \
      by the forwarded idempotency key (in memory). Asynchronous results (card \
      4000 0000 0000 3220) are reported to PaymentService.ReportProviderEvent at --deliver-to, \
      signed with the webhook secret, as the payment-gateway identity (its client secret: \
      --gateway-secret), retried until accepted. Secrets may also come from \
      $EMPORIUM_SANDBOX_API_KEY, $EMPORIUM_WEBHOOK_SECRET and $EMPORIUM_GATEWAY_SECRET.
      """
  )

  @Option(help: "Address to listen on (port 0 picks a free one).")
  var listen = HostPort(host: "127.0.0.1", port: 7800)

  @Option(help: "The API key clients must present (Authorization: Bearer), at least 16 bytes.")
  var apiKey: String?

  @Option(help: "The secret provider events are signed with, shared with PaymentService (at least 32 bytes).")
  var webhookSecret: String?

  @Option(help: "The emporium server to report asynchronous results to (HOST:PORT); none: they are not delivered.")
  var deliverTo: HostPort?

  @Option(help: "The client secret of the service identity results are reported as.")
  var gatewaySecret: String?

  @Option(help: "The service identity results are reported as.")
  var gatewayIdentity = ProviderWebhook.gatewayIdentity

  @Option(help: "How long every request takes before the sandbox acts on it, for example 20ms.")
  var latency = DurationArgument(.zero)

  @Option(help: "How long after a PENDING answer the asynchronous result is reported, for example 1s.")
  var asyncDelay = DurationArgument(.seconds(1))

  @Option(help: "How long an authorization holds before it lapses uncaptured and AUTHORIZATION_EXPIRED is reported, for example 7d.")
  var authorizationHold = DurationArgument(.seconds(7 * 24 * 3600))

  @Option(
    name: .customLong("fault"),
    help: ArgumentHelp(
      "A fault the first requests meet, KIND[:OPERATION][:TIMES] (repeatable).",
      discussion: """
        KIND: refuse, time-out-before-charging or time-out-after-charging; OPERATION: authorize, \
        capture, void or refund (default any); TIMES default 1. At run time: POST /v1/sandbox/faults.
        """))
  var faults: [FaultArgument] = []

  @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
  var logLevel = LogLevel(.info)

  func validate() throws {
    guard (resolvedAPIKey?.utf8.count ?? 0) >= 16 else {
      throw ValidationError("--api-key (or $EMPORIUM_SANDBOX_API_KEY) is required, at least 16 bytes")
    }
    guard (resolvedWebhookSecret?.utf8.count ?? 0) >= 32 else {
      throw ValidationError("--webhook-secret (or $EMPORIUM_WEBHOOK_SECRET) is required, at least 32 bytes")
    }
    if deliverTo != nil, resolvedGatewaySecret == nil {
      throw ValidationError("--deliver-to needs --gateway-secret (or $EMPORIUM_GATEWAY_SECRET)")
    }
  }

  private var environment: [String: String] { ProcessInfo.processInfo.environment }
  private var resolvedAPIKey: String? { apiKey ?? environment["EMPORIUM_SANDBOX_API_KEY"] }
  private var resolvedWebhookSecret: String? { webhookSecret ?? environment["EMPORIUM_WEBHOOK_SECRET"] }
  private var resolvedGatewaySecret: String? { gatewaySecret ?? environment["EMPORIUM_GATEWAY_SECRET"] }

  mutating func run() async throws {
    logLevel.bootstrapLogging()
    let logger = Logger(label: "emporium.payment-sandbox")
    var settings = SandboxProvider.Configuration()
    settings.latency = latency.duration
    settings.asynchronousDelay = asyncDelay.duration
    settings.authorizationHold = authorizationHold.duration
    let sandbox = SandboxProvider(webhookSecret: SymmetricKey(data: Data(resolvedWebhookSecret!.utf8)), configuration: settings)
    for fault in faults { sandbox.injectFault(fault.fault, on: fault.operation, times: fault.times) }

    var pool: RPCClientPool?
    if let deliverTo {
      let transport = RPCClientPool(endpoints: [Endpoint(host: deliverTo.host, port: deliverTo.port)], logger: logger)
      pool = transport
      let tokens = ClientSecretServiceTokens(transport: transport, serviceName: gatewayIdentity, clientSecret: resolvedGatewaySecret!)
      let delivery = RPCWebhookDelivery(transport: transport, tokens: tokens)
      sandbox.connectWebhook { webhook in
        let answer = try await delivery.deliver(webhook)
        logger.info(
          "provider event delivered",
          metadata: ["paymentId": "\(answer.payment?.paymentId ?? "")", "duplicate": "\(answer.duplicate)"])
      }
    } else {
      logger.warning("no --deliver-to: asynchronous results are not reported")
    }

    var configuration = SandboxHTTPServer.Configuration()
    configuration.host = listen.host
    configuration.port = listen.port
    let server = SandboxHTTPServer(api: SandboxAPI(sandbox: sandbox, apiKey: resolvedAPIKey!), configuration: configuration, logger: logger)
    let group = ServiceGroup(
      configuration: .init(
        services: [.init(service: server), .init(service: sandbox.webhookSender(logger: logger))],
        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    do {
      try await group.run()
    } catch {
      await pool?.close()
      throw error
    }
    await pool?.close()
  }
}

/// A duration such as `20ms`, `1.5s`, `250us`, `2h`, `7d` or `0`.
struct DurationArgument: ExpressibleByArgument, Sendable {
  var duration: Duration

  init(_ duration: Duration) { self.duration = duration }

  init?(argument: String) {
    let units: [(suffix: String, nanoseconds: Double)] = [("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9)]
    if argument == "0" {
      duration = .zero
      return
    }
    guard let unit = units.first(where: { argument.hasSuffix($0.suffix) }),
      let value = Double(argument.dropLast(unit.suffix.count)), value >= 0, value.isFinite
    else { return nil }
    duration = .nanoseconds(Int64((value * unit.nanoseconds).rounded()))
  }

  var defaultValueDescription: String {
    let (seconds, attoseconds) = duration.components
    if seconds == 0 && attoseconds == 0 { return "0" }
    if attoseconds == 0 { return "\(seconds)s" }
    return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
  }
}

/// `KIND[:OPERATION][:TIMES]`, for example `time-out-after-charging:authorize:1`.
struct FaultArgument: ExpressibleByArgument, Sendable {
  var fault: SandboxProvider.Fault
  var operation: SandboxProvider.Operation?
  var times = 1

  init?(argument: String) {
    let parts = argument.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard (1...3).contains(parts.count), let fault = ProviderWire.fault(named: parts[0].replacingOccurrences(of: "-", with: "_"))
    else { return nil }
    self.fault = fault
    if parts.count >= 2, !parts[1].isEmpty {
      guard let operation = SandboxProvider.Operation(rawValue: parts[1]) else { return nil }
      self.operation = operation
    }
    if parts.count == 3 {
      guard let times = Int(parts[2]), times >= 1 else { return nil }
      self.times = times
    }
  }
}
