public import Messages
public import RPC

/// EchoService with its unary `echo` answered by `answer`; the streaming methods are
/// EchoService's own.
public struct UnaryEchoService: RpcV1.EchoService.ServiceProtocol {
  public let answer: @Sendable (RpcV1.EchoRequest, ServerContext) async throws -> RpcV1.EchoResponse
  let base = EchoService()

  public init(answer: @escaping @Sendable (RpcV1.EchoRequest, ServerContext) async throws -> RpcV1.EchoResponse) {
    self.answer = answer
  }

  public func echo(request: RpcV1.EchoRequest, context: ServerContext) async throws -> RpcV1.EchoResponse {
    try await answer(request, context)
  }
  public func expand(request: RpcV1.EchoRequest, response: ResponseStreamWriter<RpcV1.EchoResponse>, context: ServerContext)
    async throws
  { try await base.expand(request: request, response: response, context: context) }
  public func collect(requests: RequestStream<RpcV1.EchoRequest>, context: ServerContext) async throws -> RpcV1.EchoResponse {
    try await base.collect(requests: requests, context: context)
  }
  public func update(
    requests: RequestStream<RpcV1.EchoRequest>, response: ResponseStreamWriter<RpcV1.EchoResponse>,
    context: ServerContext
  ) async throws { try await base.update(requests: requests, response: response, context: context) }
}
