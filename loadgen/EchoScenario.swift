import ArgumentParser
import LoadCore
import Messages
import NIOCore
import RPC

/// `echo`: the bare RPC, one unary Echo call of `--payload` bytes per journey.
struct EchoScenario: OneCallScenario {
  let clients: CommerceClients
  let payload: [UInt8]
  let options: CallOptions
  let encodedRequest: ByteBuffer
  var name: String { "echo" }
  var step: String { "echo" }

  init(clients: CommerceClients, settings: ScenarioSettings) throws {
    self.clients = clients
    payload = (0..<settings.payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    options = CallOptions(timeout: settings.callTimeout)
    var request = RpcV1.EchoRequest()
    request.payload = payload
    var bytes = ByteBuffer()
    do {
      try request.encode(into: &bytes)
    } catch {
      throw ValidationError("--payload \(settings.payloadBytes): the echo request cannot be encoded: \(error)")
    }
    encodedRequest = bytes
  }

  func journey(_ context: JourneyContext) async throws {
    var request = RpcV1.EchoRequest()
    request.payload = payload
    let response = try await context.step("echo") { try await clients.echo.echo(request, options: options) }
    if response.payload.count != payload.count { throw LoadFailure("BAD_RESPONSE", "echo returned another payload") }
  }

  /// The `prebuilt` call path's call: the same request, deadline and check of the response.
  var prebuilt: PrebuiltCall? {
    PrebuiltCall(
      call: PrebuiltUnaryCall(path: RpcV1.EchoService.Echo.descriptor.path, timeout: options.timeout, request: encodedRequest),
      check: Self.answerCarries(payloadBytes: payload.count))
  }

  /// The prebuilt path's check of an echo answer: its payload field (2) is `payloadBytes` long,
  /// read off the wire without decoding the message.
  static func answerCarries(payloadBytes: Int) -> @Sendable (ByteBuffer) -> Bool {
    { bytes in bytes.withUnsafeReadableBytes { (try? ProtoWireScan.lengthOfField(2, in: $0)) == payloadBytes } }
  }

  /// The loop engine's journey: the same call, started on the connection's event loop, with
  /// the request encoded once for the run.
  func start(_ journey: LoopJourney, on connection: RPCConnection) {
    let expected = payload.count
    connection.startUnary(method: RpcV1.EchoService.Echo.descriptor, request: encodedRequest, options: options) { result in
      let decoded = result.flatMap { bytes -> Result<RpcV1.EchoResponse, RPCError> in
        do {
          return .success(try RpcV1.EchoResponse(decoding: bytes))
        } catch {
          return .failure(RPCError(code: .internal, message: "the echo response could not be decoded: \(error)"))
        }
      }
      if case .success(let response) = decoded, response.payload.count != expected {
        journey.finish(status: "BAD_RESPONSE")
      } else {
        journey.finish(status: Self.status(decoded))
      }
    }
  }
}
