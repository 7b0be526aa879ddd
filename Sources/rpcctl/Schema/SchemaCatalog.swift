import Messages

/// The message and enum types a server described through reflection: what the dynamic codec
/// needs to convert between JSON and protobuf without compiled types.
struct SchemaCatalog: Hashable, Sendable {
  private(set) var messages: [String: MessageType] = [:]
  private(set) var enums: [String: EnumType] = [:]

  init() {}

  init(messages: [MessageType], enums: [EnumType] = []) {
    for message in messages { add(message) }
    for enumeration in enums { add(enumeration) }
  }

  /// Adds every type a DescribeSymbol answer carries.
  mutating func add(_ response: RpcV1.DescribeSymbolResponse) {
    for message in response.messageTypes { add(MessageType(message)) }
    for enumeration in response.enumTypes { add(EnumType(enumeration)) }
    switch response.described {
    case .messageSchema(let message): add(MessageType(message))
    case .enumSchema(let enumeration): add(EnumType(enumeration))
    default: break
    }
  }

  mutating func add(_ message: MessageType) { messages[message.fullName] = message }
  mutating func add(_ enumeration: EnumType) { enums[enumeration.fullName] = enumeration }

  /// The message type with this full name, or an error naming it.
  func message(_ name: String) throws(CodecError) -> MessageType {
    guard let message = messages[name] else {
      throw CodecError("the server described no message type '\(name)'")
    }
    return message
  }

  /// The enum type with this full name, or an error naming it.
  func enumeration(_ name: String) throws(CodecError) -> EnumType {
    guard let enumeration = enums[name] else {
      throw CodecError("the server described no enum type '\(name)'")
    }
    return enumeration
  }
}
