/// The runtime's schemas (``ProtoMessageSchema``, ``ProtoEnumSchema`` and the generated service
/// descriptions) as reflection's messages (`emporium.rpc.v1.MessageSchema`...): what the
/// reflection service sends, and what tools that work from a ``ProtoTypeRegistry`` instead of a
/// reflection round trip (the JSON mapping) read, so both see the same schemas.
extension RpcV1.ServiceSchema {
  /// A service and its methods.
  public init(_ service: ProtoServiceDescriptor) {
    self.init()
    fullName = service.name
    methods = service.methods.map(RpcV1.MethodSchema.init)
  }
}

extension RpcV1.MethodSchema {
  /// A method: its names, call kind and message types.
  public init(_ method: ProtoMethodDescriptor) {
    self.init()
    name = method.method
    fullPath = method.path
    serviceName = method.service
    callKind =
      switch method.kind {
      case .unary: .unary
      case .serverStreaming: .serverStreaming
      case .clientStreaming: .clientStreaming
      case .bidirectionalStreaming: .bidiStreaming
      }
    inputTypeName = method.inputType
    outputTypeName = method.outputType
  }
}

extension RpcV1.MessageSchema {
  /// A message's fields and oneofs. A field tracks presence when it is a singular message or a
  /// oneof member (proto3 without `optional`, which protoc-c does not support).
  public init(_ message: ProtoMessageSchema) {
    self.init()
    fullName = message.fullName
    fields = message.fields.map { field in
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
    oneofs = message.oneofs.map { oneof in
      .with {
        $0.name = oneof.name
        $0.fieldNames = oneof.fields
      }
    }
  }
}

extension RpcV1.EnumSchema {
  /// An enum's values in declaration order.
  public init(_ enumeration: ProtoEnumSchema) {
    self.init()
    fullName = enumeration.fullName
    values = enumeration.values.map { value in
      .with {
        $0.name = value.name
        $0.number = value.number
      }
    }
  }
}
