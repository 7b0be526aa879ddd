internal import CProtobufC
internal import ProtoC

/// The shape of a message or enum, read at run time from protobuf-c's descriptors (field
/// names, numbers, types, labels, packing, nested type names, enum values) plus the two facts
/// protobuf-c does not keep, which the generator records: oneof names and which repeated fields
/// are maps. Reflection serves this so tools can encode any message from JSON.
public struct ProtoMessageSchema: Hashable, Sendable {
  public var fullName: String
  public var fields: [ProtoFieldSchema]
  /// Oneof names with their member field names, in declaration order.
  public var oneofs: [(name: String, fields: [String])]

  public static func == (lhs: Self, rhs: Self) -> Bool {
    lhs.fullName == rhs.fullName && lhs.fields == rhs.fields
      && lhs.oneofs.elementsEqual(rhs.oneofs) { $0.name == $1.name && $0.fields == $1.fields }
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(fullName)
    hasher.combine(fields)
  }
}

/// One field of a ``ProtoMessageSchema``.
public struct ProtoFieldSchema: Hashable, Sendable {
  /// descriptor.proto's field type numbers.
  public enum Kind: Int32, Hashable, Sendable {
    case double = 1, float, int64, uint64, int32, fixed64, fixed32, bool, string
    case message = 11, bytes, uint32, `enum`, sfixed32, sfixed64, sint32, sint64
  }

  public enum Label: Hashable, Sendable { case singular, repeated, map }

  public var name: String
  /// The proto3 JSON name (lowerCamelCase).
  public var jsonName: String
  public var number: Int32
  /// For maps: the value's kind.
  public var kind: Kind
  public var label: Label
  /// The message or enum type (for maps: the value's), fully qualified; empty for scalars.
  public var typeName: String
  /// For maps: the key's kind.
  public var mapKeyKind: Kind?
  /// The oneof the field belongs to, if any.
  public var oneofName: String?
  public var packed: Bool

  /// The proto3 JSON name protoc gives a field without a `json_name` option: underscores
  /// dropped, the letter after each capitalised (`create_time` → `createTime`).
  public static func jsonName(of name: String) -> String {
    var result = ""
    var capitalizeNext = false
    for character in name {
      if character == "_" {
        capitalizeNext = true
      } else if capitalizeNext {
        result += character.uppercased()
        capitalizeNext = false
      } else {
        result.append(character)
      }
    }
    return result
  }
}

/// One enum: its fully qualified name and values in declaration order.
public struct ProtoEnumSchema: Hashable, Sendable {
  public var fullName: String
  public var values: [ProtoEnumValueSchema]
}

public struct ProtoEnumValueSchema: Hashable, Sendable {
  public var name: String
  public var number: Int32
}

/// What the generator records per message beyond protobuf-c's descriptors.
public struct ProtoSchemaExtras: Sendable {
  /// Oneof names and their members' field numbers.
  public var oneofs: [(name: String, numbers: [Int32])]
  /// Field numbers of map fields.
  public var mapFields: Set<Int32>

  public init(oneofs: [(name: String, numbers: [Int32])], mapFields: Set<Int32>) {
    self.oneofs = oneofs
    self.mapFields = mapFields
  }
}

/// The message types and services of one generated module (`ProtoTypeRegistry.messages` for the
/// runtime's own protos, `ProtoTypeRegistry.commerceAPI` for the commerce contract), or of
/// several merged.
public struct ProtoTypeRegistry: Sendable {
  /// Every message type, by fully qualified proto name.
  public var messageTypes: [String: any ProtoMessage.Type]
  /// Oneof names and map fields, which protobuf-c's descriptors do not keep.
  public var schemaExtras: [String: ProtoSchemaExtras]
  /// Each enum's value numbers in declaration order (protobuf-c keeps them sorted by number).
  public var enumValueOrder: [String: [Int32]]
  /// Every service, in file order.
  public var services: [ProtoServiceDescriptor]

  public init(
    messageTypes: [String: any ProtoMessage.Type], schemaExtras: [String: ProtoSchemaExtras],
    enumValueOrder: [String: [Int32]], services: [ProtoServiceDescriptor]
  ) {
    self.messageTypes = messageTypes
    self.schemaExtras = schemaExtras
    self.enumValueOrder = enumValueOrder
    self.services = services
  }

  /// This registry and `other` together (entries of `other` win on a clash, which cannot
  /// happen between modules generated from one proto tree).
  public func merging(_ other: ProtoTypeRegistry) -> ProtoTypeRegistry {
    ProtoTypeRegistry(
      messageTypes: messageTypes.merging(other.messageTypes) { _, new in new },
      schemaExtras: schemaExtras.merging(other.schemaExtras) { _, new in new },
      enumValueOrder: enumValueOrder.merging(other.enumValueOrder) { _, new in new },
      services: services + other.services.filter { service in !services.contains { $0.name == service.name } })
  }
}

/// Looks up the schemas of the messages and enums of a ``ProtoTypeRegistry``.
public struct ProtoSchemaRegistry: Sendable {
  private let types: ProtoTypeRegistry
  private let enums: [String: ProtoEnumSchema]

  public init(_ types: ProtoTypeRegistry) {
    self.types = types
    self.enums = Self.enums(of: types)
  }

  /// The schema of a message type, by fully qualified name.
  public func message(named name: String) -> ProtoMessageSchema? {
    guard let type = types.messageTypes[name] as? any ProtobufCBacked.Type else { return nil }
    return schema(of: type.protobufCDescriptor)
  }

  /// The schema of an enum type, by fully qualified name.
  public func enumeration(named name: String) -> ProtoEnumSchema? {
    enums[name]
  }

  /// The message and enum names a message refers to, directly and transitively, itself included.
  public func closure(ofMessage name: String) -> (messages: [String], enums: [String]) {
    var messages: [String] = []
    var enumNames: Set<String> = []
    var seen: Set<String> = []
    var stack = [name]
    while let current = stack.popLast() {
      guard seen.insert(current).inserted, let schema = message(named: current) else { continue }
      messages.append(current)
      for field in schema.fields where !field.typeName.isEmpty {
        if field.kind == .enum { enumNames.insert(field.typeName) } else { stack.append(field.typeName) }
      }
    }
    return (messages, enumNames.sorted())
  }

  private static func enums(of types: ProtoTypeRegistry) -> [String: ProtoEnumSchema] {
    var found: [String: ProtoEnumSchema] = [:]
    for type in types.messageTypes.values {
      guard let type = type as? any ProtobufCBacked.Type else { continue }
      let descriptor = type.protobufCDescriptor.pointee
      for index in 0..<Int(descriptor.n_fields) {
        let field = descriptor.fields[index]
        guard field.type == PROTOBUF_C_TYPE_ENUM, let raw = field.descriptor else { continue }
        let enumDescriptor = raw.assumingMemoryBound(to: ProtobufCEnumDescriptor.self).pointee
        let name = String(cString: enumDescriptor.name)
        guard found[name] == nil else { continue }
        var values = (0..<Int(enumDescriptor.n_values)).map {
          let value = enumDescriptor.values[$0]
          return ProtoEnumValueSchema(name: String(cString: value.name), number: value.value)
        }
        // protobuf-c sorts values by number; the generator recorded the declared order.
        if let order = types.enumValueOrder[name] {
          let rank = Dictionary(order.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
          values.sort { rank[$0.number, default: .max] < rank[$1.number, default: .max] }
        }
        found[name] = ProtoEnumSchema(fullName: name, values: values)
      }
    }
    return found
  }

  private func schema(of descriptor: UnsafePointer<ProtobufCMessageDescriptor>) -> ProtoMessageSchema {
    let message = descriptor.pointee
    let fullName = String(cString: message.name)
    let extras = types.schemaExtras[fullName]
    var oneofOf: [Int32: String] = [:]
    for oneof in extras?.oneofs ?? [] {
      for number in oneof.numbers { oneofOf[number] = oneof.name }
    }
    var fields: [ProtoFieldSchema] = []
    for index in 0..<Int(message.n_fields) {
      let field = message.fields[index]
      let name = String(cString: field.name)
      var kind = Self.kind(of: field.type)
      var typeName = Self.nestedName(field)
      var label: ProtoFieldSchema.Label = field.label == PROTOBUF_C_LABEL_REPEATED ? .repeated : .singular
      var keyKind: ProtoFieldSchema.Kind?
      if extras?.mapFields.contains(Int32(field.id)) == true, let raw = field.descriptor {
        let entry = raw.assumingMemoryBound(to: ProtobufCMessageDescriptor.self).pointee
        let key = entry.fields[0]
        let value = entry.fields[1]
        label = .map
        keyKind = Self.kind(of: key.type)
        kind = Self.kind(of: value.type)
        typeName = Self.nestedName(value)
      }
      fields.append(
        ProtoFieldSchema(
          name: name, jsonName: ProtoFieldSchema.jsonName(of: name), number: Int32(field.id), kind: kind, label: label,
          typeName: typeName, mapKeyKind: keyKind, oneofName: oneofOf[Int32(field.id)],
          packed: field.flags & UInt32(PROTOBUF_C_FIELD_FLAG_PACKED.rawValue) != 0))
    }
    let byNumber = Dictionary(uniqueKeysWithValues: fields.map { ($0.number, $0.name) })
    let oneofs = (extras?.oneofs ?? []).map { oneof in
      (name: oneof.name, fields: oneof.numbers.compactMap { byNumber[$0] })
    }
    return ProtoMessageSchema(fullName: fullName, fields: fields, oneofs: oneofs)
  }

  private static func nestedName(_ field: ProtobufCFieldDescriptor) -> String {
    guard let raw = field.descriptor else { return "" }
    switch field.type {
    case PROTOBUF_C_TYPE_MESSAGE:
      return String(cString: raw.assumingMemoryBound(to: ProtobufCMessageDescriptor.self).pointee.name)
    case PROTOBUF_C_TYPE_ENUM:
      return String(cString: raw.assumingMemoryBound(to: ProtobufCEnumDescriptor.self).pointee.name)
    default:
      return ""
    }
  }

  private static func kind(of type: ProtobufCType) -> ProtoFieldSchema.Kind {
    switch type {
    case PROTOBUF_C_TYPE_INT32: .int32
    case PROTOBUF_C_TYPE_SINT32: .sint32
    case PROTOBUF_C_TYPE_SFIXED32: .sfixed32
    case PROTOBUF_C_TYPE_INT64: .int64
    case PROTOBUF_C_TYPE_SINT64: .sint64
    case PROTOBUF_C_TYPE_SFIXED64: .sfixed64
    case PROTOBUF_C_TYPE_UINT32: .uint32
    case PROTOBUF_C_TYPE_FIXED32: .fixed32
    case PROTOBUF_C_TYPE_UINT64: .uint64
    case PROTOBUF_C_TYPE_FIXED64: .fixed64
    case PROTOBUF_C_TYPE_FLOAT: .float
    case PROTOBUF_C_TYPE_DOUBLE: .double
    case PROTOBUF_C_TYPE_BOOL: .bool
    case PROTOBUF_C_TYPE_ENUM: .enum
    case PROTOBUF_C_TYPE_STRING: .string
    case PROTOBUF_C_TYPE_BYTES: .bytes
    default: .message
    }
  }
}
