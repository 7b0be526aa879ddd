import Messages
import ProtoJSON
import RPC

/// A method found through reflection: its schema, what the transport needs to call it, and the
/// schemas to convert its messages.
struct ResolvedMethod: Sendable {
  let schema: RpcV1.MethodSchema
  let descriptor: ProtoMethodDescriptor
  let catalog: SchemaCatalog

  init(schema: RpcV1.MethodSchema, catalog: SchemaCatalog) throws(CommandFailure) {
    let kind: ProtoCallKind
    switch schema.callKind {
    case .unary: kind = .unary
    case .serverStreaming: kind = .serverStreaming
    case .clientStreaming: kind = .clientStreaming
    case .bidiStreaming: kind = .bidirectionalStreaming
    default: throw CommandFailure(.unimplemented, "method \(schema.fullPath) has a call kind rpcctl does not know")
    }
    self.schema = schema
    self.catalog = catalog
    self.descriptor = ProtoMethodDescriptor(
      service: schema.serviceName, method: schema.name, kind: kind, inputType: schema.inputTypeName,
      outputType: schema.outputTypeName)
  }

  var kind: ProtoCallKind { descriptor.kind }
}
