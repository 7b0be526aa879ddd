/// Converts ``DynamicMessage``s to proto3 JSON, driven by a ``SchemaCatalog``.
///
/// Writes JSON names in field number order (deterministic output); 64-bit integers as
/// strings; enums by name (by number when the schema does not know it); bytes as standard
/// padded base64; maps as objects sorted by key; the well-known types in their special forms.
/// Fields without presence that hold their zero value are omitted unless ``emitDefaults``.
struct ProtoJSONEncoder {
  let catalog: SchemaCatalog
  /// Also write fields without presence that are at their zero value (`0`, `""`, `[]`, `{}`).
  var emitDefaults = false

  init(catalog: SchemaCatalog, emitDefaults: Bool = false) {
    self.catalog = catalog
    self.emitDefaults = emitDefaults
  }

  func encode(_ message: DynamicMessage) throws(ProtoJSONError) -> JSONValue {
    try encodeMessage(message, type: try catalog.message(message.typeName))
  }

  func encodeMessage(_ message: DynamicMessage, type: MessageType) throws(ProtoJSONError) -> JSONValue {
    if let special = WellKnownType(typeName: type.fullName) {
      return try special.encode(message, type: type, using: self)
    }
    return .object(try encodeFields(message, type: type))
  }

  /// The members of a message's JSON object, in field number order.
  func encodeFields(_ message: DynamicMessage, type: MessageType) throws(ProtoJSONError) -> [JSONMember] {
    var members: [JSONMember] = []
    for field in type.fields {
      do {
        if let json = try encodeField(message.fields[field.number], field: field) {
          members.append(JSONMember(field.jsonName, json))
        }
      } catch {
        throw error.under(field.jsonName)
      }
    }
    return members
  }

  private func encodeField(_ value: DynamicField?, field: MessageField) throws(ProtoJSONError) -> JSONValue? {
    switch value {
    case .single(let single)?:
      if !field.tracksPresence, single.isZero, !emitDefaults { return nil }
      return try encodeValue(single, kind: field.kind, typeName: field.typeName)
    case .list(let elements)?:
      if elements.isEmpty, !emitDefaults { return nil }
      var array: [JSONValue] = []
      for (index, element) in elements.enumerated() {
        do {
          array.append(try encodeValue(element, kind: field.kind, typeName: field.typeName))
        } catch {
          throw error.under("[\(index)]")
        }
      }
      return .array(array)
    case .map(let entries)?:
      if entries.isEmpty, !emitDefaults { return nil }
      var members: [JSONMember] = []
      for entry in entries.sorted(by: { Self.keyOrder($0.key, $1.key) }) {
        let key = Self.keyText(entry.key)
        do {
          members.append(JSONMember(key, try encodeValue(entry.value, kind: field.kind, typeName: field.typeName)))
        } catch {
          throw error.under("[\(JSONWriter.write(.string(key)))]")
        }
      }
      return .object(members)
    case nil:
      guard emitDefaults, !field.tracksPresence else { return nil }
      switch field.label {
      case .repeated: return .array([])
      case .map: return .object([])
      case .singular: return try encodeValue(.zero(of: field.kind, typeName: field.typeName), kind: field.kind, typeName: field.typeName)
      }
    }
  }

  /// One value of `kind`.
  func encodeValue(_ value: ProtoValue, kind: FieldKind, typeName: String) throws(ProtoJSONError) -> JSONValue {
    switch value {
    case .signed(let number): return kind.isSixtyFourBitInteger ? .string(String(number)) : .number(String(number))
    case .unsigned(let number): return kind.isSixtyFourBitInteger ? .string(String(number)) : .number(String(number))
    case .float(let number): return NumberText.json(number)
    case .double(let number): return NumberText.json(number)
    case .bool(let flag): return .bool(flag)
    case .string(let text): return .string(text)
    case .bytes(let bytes): return .string(Base64.encode(bytes))
    case .enumNumber(let number):
      if typeName == WellKnownType.nullValueEnum { return .null }
      if let name = catalog.enums[typeName]?.name(of: number) { return .string(name) }
      return .number(String(number))
    case .message(let message):
      return try encodeMessage(message, type: try catalog.message(message.typeName))
    }
  }

  /// Map keys in a stable order: numerically, false before true, strings by UTF-8 bytes.
  private static func keyOrder(_ lhs: ProtoValue, _ rhs: ProtoValue) -> Bool {
    switch (lhs, rhs) {
    case (.signed(let a), .signed(let b)): a < b
    case (.unsigned(let a), .unsigned(let b)): a < b
    case (.bool(let a), .bool(let b)): !a && b
    case (.string(let a), .string(let b)): a.utf8.lexicographicallyPrecedes(b.utf8)
    default: false
    }
  }

  private static func keyText(_ key: ProtoValue) -> String {
    switch key {
    case .signed(let number): String(number)
    case .unsigned(let number): String(number)
    case .bool(let flag): flag ? "true" : "false"
    case .string(let text): text
    default: "\(key)"
    }
  }
}
