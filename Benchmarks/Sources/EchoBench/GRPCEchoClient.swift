import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import LoadCore
import SwiftProtobufPeer

/// The grpc-swift-2 side of `client`: one `GRPCClient` over `HTTP2ClientTransport.Posix`
/// (plaintext, default configuration: one HTTP/2 connection), calling the same methods with the
/// same messages (swift-protobuf's) as Emporium's client, in the same task structure, on the
/// global executor: unary calls one per journey of LoadCore's closed-model engine
/// (``UnaryLoad``), bidi streams under ``StreamLoad``.
enum GRPCEchoClient {
  typealias Request = Emporium_Rpc_V1_EchoRequest
  typealias Response = Emporium_Rpc_V1_EchoResponse

  static let echo = MethodDescriptor(fullyQualifiedService: "emporium.rpc.v1.EchoService", method: "Echo")
  static let update = MethodDescriptor(fullyQualifiedService: "emporium.rpc.v1.EchoService", method: "Update")

  static func run(_ options: ClientOptions) async throws -> ClientReport {
    let transport = try HTTP2ClientTransport.Posix(
      target: .ipv4(address: "127.0.0.1", port: options.port), transportSecurity: .plaintext)
    let pool = PayloadPool(size: options.payload).payloads.map { Data($0) }
    let outcome = try await withGRPCClient(transport: transport) { client in
      // Connect before the warm-up starts, as Emporium's client does.
      _ = try await client.unary(
        request: ClientRequest(message: Request()), descriptor: echo, serializer: ProtobufSerializer<Request>(),
        deserializer: ProtobufDeserializer<Response>(), options: .defaults
      ) { try $0.message }
      switch options.mode {
      case .unary:
        return try await options.unaryLoad.run { sequence in
          try await unary(client, pool: pool, sequence: sequence)
        }
      case .bidi:
        return try await options.streamLoad.run { index, phase in
          try await bidi(client, pool: pool, index: index, phase: phase)
        }
      }
    }
    return ClientReport(options: options, outcome: outcome)
  }

  /// One journey: one call with the `sequence`th payload of the pool, its echo checked for size.
  private static func unary(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, pool: [Data], sequence: UInt64
  ) async throws {
    var request = Request()
    request.payload = pool[Int(truncatingIfNeeded: sequence % UInt64(pool.count))]
    let response = try await client.unary(
      request: ClientRequest(message: request), descriptor: echo, serializer: ProtobufSerializer<Request>(),
      deserializer: ProtobufDeserializer<Response>(), options: .defaults
    ) { try $0.message }
    if response.payload.count != request.payload.count {
      throw LoadFailure("BAD_RESPONSE", "the echo's payload differs in size from the request's")
    }
  }

  private static func bidi(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, pool: [Data], index: Int, phase: StreamPhase
  ) async throws -> StreamTally {
    let (asks, ask) = AsyncStream.makeStream(of: Void.self)
    let requests = StreamingClientRequest(of: Request.self) { writer in
      var request = Request()
      var next = index &* 7_919
      for await _ in asks {
        request.payload = pool[next % pool.count]
        next &+= 1
        try await writer.write(request)
      }
    }
    return try await client.bidirectionalStreaming(
      request: requests, descriptor: update, serializer: ProtobufSerializer<Request>(),
      deserializer: ProtobufDeserializer<Response>(), options: .defaults
    ) { response in
      var tally = StreamTally()
      var start = monotonicNanoseconds()
      ask.yield()
      for try await _ in response.messages {
        tally.record(since: start, phase: phase)
        if phase.isDone {
          ask.finish()
          continue
        }
        start = monotonicNanoseconds()
        ask.yield()
      }
      return tally
    }
  }
}
