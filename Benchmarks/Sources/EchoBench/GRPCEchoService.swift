import Foundation
import GRPCCore
import GRPCProtobuf
import SwiftProtobufPeer

#if canImport(Glibc)
import Glibc
#endif

/// `emporium.rpc.v1.EchoService` for grpc-swift-2, registered by hand (no code generation):
/// `Echo` and `Update`, doing what Emporium's `EchoService` does for the benchmark's requests
/// (message, payload, sequence, request count and the server instance in every response).
struct GRPCEchoService: RegistrableRPCService {
  typealias Request = Emporium_Rpc_V1_EchoRequest
  typealias Response = Emporium_Rpc_V1_EchoResponse

  /// Host name and process id, as Emporium's EchoService reports it.
  let instance: String = {
    var host = [CChar](repeating: 0, count: 256)
    gethostname(&host, host.count - 1)
    let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return "\(name):\(getpid())"
  }()

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: GRPCEchoClient.echo, deserializer: ProtobufDeserializer<Request>(),
      serializer: ProtobufSerializer<Response>()
    ) { request, context in
      let single = try await ServerRequest(stream: request)
      return StreamingServerResponse(
        single: ServerResponse(message: response(to: single.message, sequence: 0, requestCount: 1)))
    }
    router.registerHandler(
      forMethod: GRPCEchoClient.update, deserializer: ProtobufDeserializer<Request>(),
      serializer: ProtobufSerializer<Response>()
    ) { request, context in
      StreamingServerResponse { writer in
        var received: Int32 = 0
        for try await message in request.messages {
          received += 1
          try await writer.write(response(to: message, sequence: received - 1, requestCount: received))
        }
        return [:]
      }
    }
  }

  private func response(to request: Request, sequence: Int32, requestCount: Int32) -> Response {
    var response = Response()
    response.message = request.message
    response.payload = request.payload
    response.sequence = sequence
    response.requestCount = requestCount
    response.serverInstance = instance
    return response
  }
}
