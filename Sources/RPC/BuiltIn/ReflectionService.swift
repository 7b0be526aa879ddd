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
    return .with { $0.service = Self.schema(of: service) }
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
      response.described = .serviceSchema(Self.schema(of: service))
      roots = service.methods.flatMap { [$0.inputType, $0.outputType] }
    } else if let method = hosted.lazy.flatMap(\.methods).first(where: {
      $0.path == symbol || "\($0.service).\($0.method)" == symbol
    }) {
      response.described = .methodSchema(Self.schema(of: method))
      roots = [method.inputType, method.outputType]
    } else if let message = schemas.message(named: symbol) {
      response.described = .messageSchema(Self.schema(of: message))
      roots = [symbol]
    } else if let enumeration = schemas.enumeration(named: symbol) {
      response.described = .enumSchema(Self.schema(of: enumeration))
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
    response.messageTypes = messages.sorted().compactMap { schemas.message(named: $0).map(Self.schema(of:)) }
    response.enumTypes = enums.sorted().compactMap { schemas.enumeration(named: $0).map(Self.schema(of:)) }
    return response
  }

  // MARK: Conversions

  static func schema(of service: ProtoServiceDescriptor) -> RpcV1.ServiceSchema {
    .with {
      $0.fullName = service.name
      $0.methods = service.methods.map(schema(of:))
    }
  }

  static func schema(of method: ProtoMethodDescriptor) -> RpcV1.MethodSchema {
    .with {
      $0.name = method.method
      $0.fullPath = method.path
      $0.serviceName = method.service
      $0.callKind =
        switch method.kind {
        case .unary: .unary
        case .serverStreaming: .serverStreaming
        case .clientStreaming: .clientStreaming
        case .bidirectionalStreaming: .bidiStreaming
        }
      $0.inputTypeName = method.inputType
      $0.outputTypeName = method.outputType
    }
  }

  static func schema(of message: ProtoMessageSchema) -> RpcV1.MessageSchema {
    .with {
      $0.fullName = message.fullName
      $0.fields = message.fields.map { field in
        .with {
          $0.name = field.name
          $0.jsonName = field.jsonName
          $0.number = field.number
          $0.label =
            switch field.label {
            case .singular: .singular
            case .repeated: .repeated
            case .map: .map
            }
          $0.kind = RpcV1.FieldKind(rawValue: field.kind.rawValue)
          $0.typeName = field.typeName
          if let key = field.mapKeyKind { $0.mapKeyKind = RpcV1.FieldKind(rawValue: key.rawValue) }
          $0.oneofName = field.oneofName ?? ""
          $0.packed = field.packed
          $0.tracksPresence = field.label == .singular && (field.kind == .message || field.oneofName != nil)
        }
      }
      $0.oneofs = message.oneofs.map { oneof in
        .with {
          $0.name = oneof.name
          $0.fieldNames = oneof.fields
        }
      }
    }
  }

  static func schema(of enumeration: ProtoEnumSchema) -> RpcV1.EnumSchema {
    .with {
      $0.fullName = enumeration.fullName
      $0.values = enumeration.values.map { value in
        .with {
          $0.name = value.name
          $0.number = value.number
        }
      }
    }
  }
}
