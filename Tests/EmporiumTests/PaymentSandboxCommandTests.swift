import CommerceAPI
import CommerceKit
import Foundation
import Messages
import PostgresEmbedded
import RPC
import TestSupport
import Testing

/// `emporium payment-sandbox` as its own process, and `emporium serve` reaching it over the
/// network (`--setting payments.provider=http://…`).
@Suite("emporium payment-sandbox", .serialized)
struct PaymentSandboxCommandTests {
  /// A running sandbox process and its port.
  struct Sandbox {
    var process: Process
    var port: Int
    var output: ProcessOutput
  }

  @Test("emporium serve pays through a payment-sandbox process, which reports the asynchronous card's result and a lapsed hold back")
  func serveWithNetworkSandbox() async throws {
    let database = try await TestCluster.createDatabase("payment_sandbox")
    let keys = NSTemporaryDirectory() + "emporium-keys-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: keys) }
    let apiKey = "sk_sandbox_" + UUID().uuidString
    let webhookSecret = "whsec_" + UUID().uuidString + UUID().uuidString
    let gatewaySecret = "gateway_" + UUID().uuidString

    // The server is told the sandbox's port before the sandbox listens (it connects on the first
    // payment); the sandbox is told the server's. A port taken in between: both again.
    var started: (server: ServeCommandTests.Server, sandbox: Sandbox)?
    for _ in 0..<3 where started == nil {
      let sandboxPort = try ServeCommandTests.freePort()
      let server = try await ServeCommandTests.startServer(
        databaseURL: database,
        extra: [
          "--keys-dir", keys,
          "--setting", "payments.provider=http://127.0.0.1:\(sandboxPort)",
          "--setting", "payments.provider-api-key=\(apiKey)",
          "--setting", "payments.webhook-secret=\(webhookSecret)",
          "--setting", "payments.authorization-hold-seconds=3",
          "--setting", "auth.service-identity.payment-gateway=\(gatewaySecret)",
        ], echo: false)
      let output = ProcessOutput()
      let process = Process()
      process.executableURL = ServeCommandTests.executable
      process.arguments = [
        "payment-sandbox", "--listen", "127.0.0.1:\(sandboxPort)", "--deliver-to", "127.0.0.1:\(server.port)", "--async-delay", "100ms",
        "--authorization-hold", "3s",
      ]
      // The secrets through the environment, not the command line.
      process.environment = ProcessInfo.processInfo.environment.merging(
        [
          "EMPORIUM_SANDBOX_API_KEY": apiKey, "EMPORIUM_WEBHOOK_SECRET": webhookSecret, "EMPORIUM_GATEWAY_SECRET": gatewaySecret,
        ], uniquingKeysWith: { $1 })
      process.standardOutput = FileHandle.nullDevice
      try output.run(process)
      if let port = await output.waitFor({ ServeCommandTests.listeningPort(in: $0) }) {
        started = (server, Sandbox(process: process, port: port, output: output))
      } else {
        kill(server.process.processIdentifier, SIGTERM)
        await server.process.exited()
        guard output.text.contains("in use") else { throw ServeCommandTests.ServerDidNotStart(output: output.text) }
      }
    }
    let (server, sandbox) = try #require(started)
    defer {
      kill(sandbox.process.processIdentifier, SIGKILL)
      kill(server.process.processIdentifier, SIGKILL)
    }

    let tokens = await AccessTokens(keys: try AccessTokenKeySet.load(directory: keys).keys)
    let orders = CallOptions(
      metadata: [
        "authorization": "Bearer " + (try await tokens.issue(for: Principal(kind: .service, subject: "orders", expiresAt: 0), lifetime: .seconds(900)).token)
      ])
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: server.port)
    let payments = CommerceV1.PaymentService.Client(connection)
    func authorize(_ number: String) async throws -> CommerceV1.Payment {
      try await payments.authorizePayment(
        .with {
          $0.orderId = UUID().uuidString.lowercased()
          $0.customerId = UUID().uuidString.lowercased()
          $0.amount = .with {
            $0.amountMinor = 2500
            $0.currency = "USD"
          }
          $0.paymentMethod = .with {
            $0.method = .testCard(
              .with {
                $0.number = number
                $0.expMonth = 12
                $0.expYear = 2040
                $0.cvc = "123"
              })
          }
          $0.idempotencyKey = UUID().uuidString
        }, options: orders
      ).payment!
    }

    let paid = try await authorize("4242 4242 4242 4242")
    #expect(paid.status == .authorized && paid.providerId == "sandbox")
    // The sandbox process recorded that charge, under the forwarded key.
    let records = try ServeCommandTests.httpGet(
      port: sandbox.port, path: "/v1/sandbox/charges", headers: ["Authorization: Bearer \(apiKey)"])
    #expect(records.hasPrefix("HTTP/1.1 200"))
    #expect(records.contains("\"id\":\"\(paid.providerPaymentId)\"") && records.contains("\"authorize\":1"))
    // Without the key, nothing.
    #expect(try ServeCommandTests.httpGet(port: sandbox.port, path: "/v1/sandbox/charges").hasPrefix("HTTP/1.1 401"))

    // The asynchronous card: PENDING, then AUTHORIZED by the sandbox's signed ReportProviderEvent.
    let pending = try await authorize("4000 0000 0000 3220")
    #expect(pending.status == .pending)
    #expect(
      try await eventually {
        try await payments.getPayment(.with { $0.paymentId = pending.paymentId }, options: orders).payment?.status == .authorized
      })
    #expect(await sandbox.output.waitFor { $0.contains("provider event delivered") ? true : nil } == true)
    // The first payment was never captured: its hold lapses at the sandbox, which reports it.
    #expect(
      try await eventually(within: .seconds(30)) {
        try await payments.getPayment(.with { $0.paymentId = paid.paymentId }, options: orders).payment?.status == .voided
      })
    await connection.close()

    kill(sandbox.process.processIdentifier, SIGTERM)
    #expect(await ServeCommandTests.waitForExit(sandbox.process, within: .seconds(30)))
    #expect(sandbox.process.terminationStatus == 0)
    kill(server.process.processIdentifier, SIGTERM)
    #expect(await ServeCommandTests.waitForExit(server.process, within: .seconds(30)))
  }
}
