public import Messages

/// The message and enum types the JSON mapping works from: what ``JSONMessageCodec`` needs to
/// convert between JSON and protobuf without compiled types.
///
/// A catalog is built either from the generated registries of the modules whose messages it
/// converts (``init(registry:)``, no network) or, as rpcctl does, from what a server's
/// reflection service describes (``init()`` and ``add(_:)``). Both give the same schemas:
/// reflection serves the registries' schemas converted by `RpcV1.MessageSchema.init(_:)`,
/// and ``init(registry:)`` converts them the same way.
public struct SchemaCatalog: Hashable, Sendable {
  package private(set) var messages: [String: MessageType] = [:]
  package private(set) var enums: [String: EnumType] = [:]
  /// Where the types came from, which the "no such type" errors name.
  private var source = Source.reflection

  private enum Source: Hashable, Sendable {
    case reflection, registry
  }

  /// An empty catalog, to be filled with reflection's answers (``add(_:)``).
  public init() {}

  /// Every message of `registry`, and every enum its messages use.
  ///
  /// The runtime's own types (``ProtoTypeRegistry/messages``: `google.protobuf.Timestamp` and
  /// `Duration`, the `emporium.rpc.v1` messages) are always included, as a server's router
  /// includes them, so `.commerceAPI` alone is enough for the commerce contract. Pass several
  /// modules' registries merged (``ProtoTypeRegistry/merging(_:)``).
  public init(registry: ProtoTypeRegistry) {
    let types = ProtoTypeRegistry.messages.merging(registry)
    let schemas = ProtoSchemaRegistry(types)
    var enumNames: Set<String> = []
    for name in types.messageTypes.keys {
      guard let schema = schemas.message(named: name) else { continue }
      add(MessageType(RpcV1.MessageSchema(schema)))
      enumNames.formUnion(schema.fields.filter { $0.kind == .enum }.map(\.typeName))
    }
    for name in enumNames {
      guard let schema = schemas.enumeration(named: name) else { continue }
      add(EnumType(RpcV1.EnumSchema(schema)))
    }
    source = .registry
  }

  package init(messages: [MessageType], enums: [EnumType] = []) {
    for message in messages { add(message) }
    for enumeration in enums { add(enumeration) }
  }

  /// Adds every type a reflection `DescribeSymbol` answer carries.
  public mutating func add(_ response: RpcV1.DescribeSymbolResponse) {
    for message in response.messageTypes { add(MessageType(message)) }
    for enumeration in response.enumTypes { add(EnumType(enumeration)) }
    switch response.described {
    case .messageSchema(let message): add(MessageType(message))
    case .enumSchema(let enumeration): add(EnumType(enumeration))
    default: break
    }
  }

  /// Whether the catalog holds the message type with this full name
  /// (`emporium.commerce.v1.CheckoutRequest`).
  public func containsMessage(named fullName: String) -> Bool {
    messages[fullName] != nil
  }

  package mutating func add(_ message: MessageType) { messages[message.fullName] = message }
  package mutating func add(_ enumeration: EnumType) { enums[enumeration.fullName] = enumeration }

  /// The message type with this full name, or an error naming it.
  package func message(_ name: String) throws(ProtoJSONError) -> MessageType {
    guard let message = messages[name] else { throw missing("message", name) }
    return message
  }

  /// The enum type with this full name, or an error naming it.
  package func enumeration(_ name: String) throws(ProtoJSONError) -> EnumType {
    guard let enumeration = enums[name] else { throw missing("enum", name) }
    return enumeration
  }

  private func missing(_ kind: String, _ name: String) -> ProtoJSONError {
    switch source {
    case .reflection: ProtoJSONError("the server described no \(kind) type '\(name)'")
    case .registry: ProtoJSONError("no \(kind) type '\(name)' in the registry")
    }
  }
}
