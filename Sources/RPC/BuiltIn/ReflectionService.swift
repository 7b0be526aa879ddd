public import Messages

/// The built-in `emporium.rpc.v1.ReflectionService`: what the server hosts and the schema of
/// every message and enum its methods use, so tools such as rpcctl can call any method with
/// JSON without compiled stubs. Message schemas come from protobuf-c's descriptors
/// (``ProtoSchemaRegistry``); services and call kinds from the generated descriptions.
public struct ReflectionService: RpcV1.ReflectionService.ServiceProtocol {
  let hosted: [ProtoServiceDescriptor]
  let schemas: ProtoSchemaRegistry

  /// The description of this service itself.
  public static var descriptor: ProtoServiceDescriptor { RpcV1.ReflectionService.descriptor }

  /// - Parameters:
  ///   - hosted: the services the server hosts (reflection included).
  ///   - types: the message types their methods use (the registries of their modules).
  public init(hosted: [ProtoServiceDescriptor], types: ProtoTypeRegistry = .messages) {
    var seen: Set<String> = []
    self.hosted = hosted.filter { seen.insert($0.name).inserted }
    self.schemas = ProtoSchemaRegistry(types)
  }

  public func listServices(request: RpcV1.ListServicesRequest, context: ServerContext) async throws
    -> RpcV1.ListServicesResponse
  {
    .with { $0.serviceNames = hosted.map(\.name).sorted() }
  }

  public func describeService(request: RpcV1.DescribeServiceRequest, context: ServerContext) async throws
    -> RpcV1.DescribeServiceResponse
  {
    guard let service = hosted.first(where: { $0.name == request.serviceName }) else {
      throw RPCError(code: .notFound, message: "no hosted service named '\(request.serviceName)'")
    }
    return .with { $0.service = RpcV1.ServiceSchema(service) }
  }

  public func describeSymbol(request: RpcV1.DescribeSymbolRequest, context: ServerContext) async throws
    -> RpcV1.DescribeSymbolResponse
  {
    let symbol = request.symbol
    guard !symbol.isEmpty else { throw RPCError(code: .invalidArgument, message: "symbol is empty") }
    var response = RpcV1.DescribeSymbolResponse()
    var roots: [String] = []
    var enumRoots: [String] = []
    if let service = hosted.first(where: { $0.name == symbol }) {
      response.described = .serviceSchema(RpcV1.ServiceSchema(service))
      roots = service.methods.flatMap { [$0.inputType, $0.outputType] }
    } else if let method = hosted.lazy.flatMap(\.methods).first(where: {
      $0.path == symbol || "\($0.service).\($0.method)" == symbol
    }) {
      response.described = .methodSchema(RpcV1.MethodSchema(method))
      roots = [method.inputType, method.outputType]
    } else if let message = schemas.message(named: symbol) {
      response.described = .messageSchema(RpcV1.MessageSchema(message))
      roots = [symbol]
    } else if let enumeration = schemas.enumeration(named: symbol) {
      response.described = .enumSchema(RpcV1.EnumSchema(enumeration))
      enumRoots = [symbol]
    } else {
      throw RPCError(code: .notFound, message: "no service, method, message or enum named '\(symbol)'")
    }
    var messages: Set<String> = []
    var enums = Set(enumRoots)
    for root in roots {
      let closure = schemas.closure(ofMessage: root)
      messages.formUnion(closure.messages)
      enums.formUnion(closure.enums)
    }
    response.messageTypes = messages.sorted().compactMap { schemas.message(named: $0).map(RpcV1.MessageSchema.init) }
    response.enumTypes = enums.sorted().compactMap { schemas.enumeration(named: $0).map(RpcV1.EnumSchema.init) }
    return response
  }
}
