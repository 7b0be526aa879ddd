import LoadCore
import Messages
import RPC

/// `echo`: the bare RPC, one unary Echo call of `--payload` bytes per journey.
struct EchoScenario: Scenario {
  let clients: CommerceClients
  let payload: [UInt8]
  let options: CallOptions
  var name: String { "echo" }

  init(clients: CommerceClients, settings: ScenarioSettings) {
    self.clients = clients
    payload = (0..<settings.payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    options = CallOptions(timeout: settings.callTimeout)
  }

  func journey(_ context: JourneyContext) async throws {
    var request = RpcV1.EchoRequest()
    request.payload = payload
    let response = try await context.step("echo") { try await clients.echo.echo(request, options: options) }
    if response.payload.count != payload.count { throw LoadFailure("BAD_RESPONSE", "echo returned another payload") }
  }
}
