/// Converts proto3 JSON into ``DynamicMessage``s, driven by a ``SchemaCatalog``.
///
/// Accepts what the proto3 JSON mapping says parsers accept: JSON names and original field
/// names; 64-bit integers as numbers or strings (all integers may be strings, and may be
/// written `1.0` or `1e3`); floats as numbers, numeric strings, `"NaN"`, `"Infinity"`,
/// `"-Infinity"`; bytes in standard or URL-safe base64, padded or not; enums by name or number;
/// `null` as "not set"; maps as objects whose keys are the keys' text; the special forms of the
/// well-known types (``WellKnownType``). Errors name the offending field or value and the valid
/// choices.
struct ProtoJSONDecoder {
  let catalog: SchemaCatalog

  /// Decodes a JSON value (which must be an object, or a well-known type's special form) as a
  /// message of `typeName`.
  func decode(_ json: JSONValue, as typeName: String) throws(ProtoJSONError) -> DynamicMessage {
    try decodeMessage(json, type: try catalog.message(typeName))
  }

  /// Parses and decodes JSON text.
  func decode(text: String, as typeName: String) throws(ProtoJSONError) -> DynamicMessage {
    let json: JSONValue
    do {
      json = try JSONParser.parse(text)
    } catch {
      throw ProtoJSONError(error.description)
    }
    return try decode(json, as: typeName)
  }

  /// Decodes a message; `special: false` skips the well-known types' special forms (used by
  /// those forms themselves).
  func decodeMessage(_ json: JSONValue, type: MessageType, special: Bool = true) throws(ProtoJSONError) -> DynamicMessage {
    if special, let special = WellKnownType(typeName: type.fullName) {
      return try special.decode(json, type: type, using: self)
    }
    guard case .object(let members) = json else {
      throw ProtoJSONError("expected an object for \(type.fullName), got \(json.typeDescription)")
    }
    var message = DynamicMessage(typeName: type.fullName)
    var keyOfField: [Int32: String] = [:]
    var memberOfOneof: [String: String] = [:]
    for member in members {
      guard let field = type.field(named: member.key) else {
        throw unknownField(member.key, in: type)
      }
      if let previous = keyOfField[field.number] {
        throw ProtoJSONError(
          previous == member.key
            ? "field '\(member.key)' appears twice" : "field '\(field.name)' appears twice (as '\(previous)' and '\(member.key)')")
      }
      keyOfField[field.number] = member.key
      if case .null = member.value, !acceptsNull(field) { continue }
      if let oneof = field.oneofName {
        if let other = memberOfOneof[oneof] {
          let members = type.members(ofOneof: oneof).map(\.jsonName).joined(separator: ", ")
          throw ProtoJSONError(
            "oneof '\(oneof)' has more than one member set: '\(other)' and '\(member.key)'; set at most one of \(members)")
        }
        memberOfOneof[oneof] = member.key
      }
      do {
        if let value = try decodeField(member.value, field: field) { message.fields[field.number] = value }
      } catch {
        throw error.under(member.key)
      }
    }
    return message
  }

  /// The field's value, or nil when proto3 stores nothing (a zero value without presence, an
  /// empty list or map).
  private func decodeField(_ json: JSONValue, field: MessageField) throws(ProtoJSONError) -> DynamicField? {
    switch field.label {
    case .singular:
      let value = try decodeValue(json, kind: field.kind, typeName: field.typeName)
      return !field.tracksPresence && value.isZero ? nil : .single(value)
    case .repeated:
      if case .null = json { return nil }
      guard case .array(let elements) = json else {
        throw ProtoJSONError("expected an array for repeated field '\(field.name)', got \(json.typeDescription)")
      }
      var values: [ProtoValue] = []
      for (index, element) in elements.enumerated() {
        do throws(ProtoJSONError) {
          if case .null = element, !acceptsNull(kind: field.kind, typeName: field.typeName) {
            throw ProtoJSONError("null is not allowed in a list")
          }
          values.append(try decodeValue(element, kind: field.kind, typeName: field.typeName))
        } catch {
          throw error.under("[\(index)]")
        }
      }
      return values.isEmpty ? nil : .list(values)
    case .map:
      if case .null = json { return nil }
      guard case .object(let members) = json, let keyKind = field.mapKeyKind else {
        throw ProtoJSONError("expected an object for map field '\(field.name)', got \(json.typeDescription)")
      }
      var entries: [MapEntry] = []
      var seen: Set<ProtoValue> = []
      for member in members {
        do throws(ProtoJSONError) {
          let key = try decodeMapKey(member.key, kind: keyKind)
          guard seen.insert(key).inserted else { throw ProtoJSONError("map key appears twice") }
          if case .null = member.value, !acceptsNull(kind: field.kind, typeName: field.typeName) {
            throw ProtoJSONError("null is not allowed as a map value")
          }
          entries.append(MapEntry(key, try decodeValue(member.value, kind: field.kind, typeName: field.typeName)))
        } catch {
          throw error.under("[\(JSONWriter.write(.string(member.key)))]")
        }
      }
      return entries.isEmpty ? nil : .map(entries)
    }
  }

  /// One value of `kind`.
  func decodeValue(_ json: JSONValue, kind: FieldKind, typeName: String) throws(ProtoJSONError) -> ProtoValue {
    switch kind {
    case .int32, .sint32, .sfixed32: return .signed(try signedInteger(json, kind: kind, range: Int64(Int32.min)...Int64(Int32.max)))
    case .int64, .sint64, .sfixed64: return .signed(try signedInteger(json, kind: kind, range: Int64.min...Int64.max))
    case .uint32, .fixed32: return .unsigned(try unsignedInteger(json, kind: kind, max: UInt64(UInt32.max)))
    case .uint64, .fixed64: return .unsigned(try unsignedInteger(json, kind: kind, max: UInt64.max))
    case .double: return .double(try floatingPoint(json, kind: kind))
    case .float:
      let value = try floatingPoint(json, kind: kind)
      let narrowed = Float(value)
      guard narrowed.isFinite || !value.isFinite else { throw ProtoJSONError("\(value) is out of range for float") }
      return .float(narrowed)
    case .bool:
      guard case .bool(let flag) = json else { throw ProtoJSONError("expected true or false, got \(json.typeDescription)") }
      return .bool(flag)
    case .string:
      guard case .string(let text) = json else { throw ProtoJSONError("expected a string, got \(json.typeDescription)") }
      return .string(text)
    case .bytes:
      guard case .string(let text) = json else {
        throw ProtoJSONError("expected a base64 string for bytes, got \(json.typeDescription)")
      }
      guard let bytes = Base64.decode(text) else { throw ProtoJSONError("'\(text)' is not valid base64") }
      return .bytes(bytes)
    case .enumeration:
      return .enumNumber(try enumNumber(json, type: try catalog.enumeration(typeName)))
    case .message:
      return .message(try decodeMessage(json, type: try catalog.message(typeName)))
    case .unsupported(let number):
      throw FieldKind.unsupportedError(number)
    }
  }

  // MARK: Scalars

  private func integer(_ json: JSONValue, kind: FieldKind) throws(ProtoJSONError) -> (negative: Bool, magnitude: UInt64) {
    let text: String
    switch json {
    case .number(let number): text = number
    case .string(let string): text = string
    default: throw ProtoJSONError("expected an integer (number or string) for \(kind.protoName), got \(json.typeDescription)")
    }
    switch NumberText.integer(text) {
    case .integer(let negative, let magnitude): return (negative, magnitude)
    case .notIntegral: throw ProtoJSONError("\(text) is not an integer (\(kind.protoName))")
    case .outOfRange: throw ProtoJSONError("\(text) is out of range for \(kind.protoName)")
    case .invalid: throw ProtoJSONError("'\(text)' is not an integer (\(kind.protoName))")
    }
  }

  private func signedInteger(_ json: JSONValue, kind: FieldKind, range: ClosedRange<Int64>) throws(ProtoJSONError) -> Int64 {
    let (negative, magnitude) = try integer(json, kind: kind)
    let value: Int64?
    if negative {
      value = magnitude <= Int64.min.magnitude ? (magnitude == Int64.min.magnitude ? Int64.min : -Int64(magnitude)) : nil
    } else {
      value = magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }
    guard let value, range.contains(value) else {
      throw ProtoJSONError("\(negative ? "-" : "")\(magnitude) is out of range for \(kind.protoName) (\(range.lowerBound)...\(range.upperBound))")
    }
    return value
  }

  private func unsignedInteger(_ json: JSONValue, kind: FieldKind, max: UInt64) throws(ProtoJSONError) -> UInt64 {
    let (negative, magnitude) = try integer(json, kind: kind)
    guard !negative || magnitude == 0, magnitude <= max else {
      throw ProtoJSONError("\(negative ? "-" : "")\(magnitude) is out of range for \(kind.protoName) (0...\(max))")
    }
    return magnitude
  }

  private func floatingPoint(_ json: JSONValue, kind: FieldKind) throws(ProtoJSONError) -> Double {
    let text: String
    switch json {
    case .number(let number): text = number
    case .string(let string): text = string
    default:
      throw ProtoJSONError(
        "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\") for \(kind.protoName), got \(json.typeDescription)")
    }
    guard let value = NumberText.double(text) else { throw ProtoJSONError("'\(text)' is not a number (\(kind.protoName))") }
    guard value.isFinite || !NumberText.isNumberSyntax(text) else {
      throw ProtoJSONError("\(text) is out of range for \(kind.protoName)")
    }
    return value
  }

  private func enumNumber(_ json: JSONValue, type: EnumType) throws(ProtoJSONError) -> Int32 {
    switch json {
    case .null where type.fullName == WellKnownType.nullValueEnum:
      return 0
    case .string(let name):
      guard let number = type.number(of: name) else {
        let names = type.values.map(\.name)
        throw ProtoJSONError(
          "unknown value '\(name)' for enum \(type.fullName)\(Suggestions.hint(for: name, in: names)); valid values: \(names.joined(separator: ", "))")
      }
      return number
    case .number(let text):
      guard case .integer(let negative, let magnitude) = NumberText.integer(text),
        let value = Int64(exactly: magnitude).map({ negative ? -$0 : $0 }), let number = Int32(exactly: value)
      else { throw ProtoJSONError("\(text) is not a valid enum number (a 32-bit integer) for \(type.fullName)") }
      return number
    default:
      let names = type.values.map(\.name).joined(separator: ", ")
      throw ProtoJSONError("expected an enum value name or number for \(type.fullName), got \(json.typeDescription); valid values: \(names)")
    }
  }

  /// A map key from its JSON object key text.
  private func decodeMapKey(_ text: String, kind: FieldKind) throws(ProtoJSONError) -> ProtoValue {
    switch kind {
    case .string: return .string(text)
    case .bool:
      switch text {
      case "true": return .bool(true)
      case "false": return .bool(false)
      default: throw ProtoJSONError("map key '\(text)' is not true or false")
      }
    default:
      return try decodeValue(.string(text), kind: kind, typeName: "")
    }
  }

  // MARK: Helpers

  /// Whether JSON null is a value of this field rather than "not set" (google.protobuf.Value
  /// and NullValue).
  private func acceptsNull(_ field: MessageField) -> Bool {
    field.label == .singular && acceptsNull(kind: field.kind, typeName: field.typeName)
  }

  private func acceptsNull(kind: FieldKind, typeName: String) -> Bool {
    (kind == .message && typeName == WellKnownType.valueMessage) || (kind == .enumeration && typeName == WellKnownType.nullValueEnum)
  }

  private func unknownField(_ key: String, in type: MessageType) -> ProtoJSONError {
    let names = type.fields.map(\.jsonName)
    let hint = Suggestions.hint(for: key, in: names + type.fields.map(\.name))
    let list = names.isEmpty ? "it has no fields" : "valid fields: \(names.joined(separator: ", "))"
    return ProtoJSONError("unknown field '\(key)' in \(type.fullName)\(hint); \(list)")
  }
}
