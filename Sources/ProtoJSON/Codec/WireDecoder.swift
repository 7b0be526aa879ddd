/// Decodes protobuf wire bytes into ``DynamicMessage``s, using a ``SchemaCatalog`` for the
/// field kinds.
///
/// Follows the protobuf rules: the last value of a singular field wins, repeated messages of a
/// singular message field merge, setting one oneof member clears the others, repeated numeric
/// fields are accepted packed and unpacked, and fields the schema does not know are skipped.
/// Nesting is limited to ``maxDepth``.
struct WireDecoder {
  /// The deepest message nesting decoded.
  static let maxDepth = 100

  let catalog: SchemaCatalog

  func decode(_ bytes: [UInt8], as typeName: String) throws(ProtoJSONError) -> DynamicMessage {
    try decode(bytes[...], as: typeName, depth: 0)
  }

  private func decode(_ bytes: ArraySlice<UInt8>, as typeName: String, depth: Int) throws(ProtoJSONError) -> DynamicMessage {
    guard depth < Self.maxDepth else { throw ProtoJSONError("messages nested deeper than \(Self.maxDepth) levels") }
    let type = try catalog.message(typeName)
    var message = DynamicMessage(typeName: typeName)
    var reader = WireReader(bytes)
    while !reader.isAtEnd {
      let (number, wireType) = try reader.readTag()
      guard let field = type.field(number: number) else {
        try reader.skip(wireType)
        continue
      }
      do {
        try read(field, wireType: wireType, from: &reader, into: &message, in: type, depth: depth)
      } catch {
        throw error.under(field.jsonName)
      }
    }
    return message
  }

  private func read(
    _ field: MessageField, wireType: WireType, from reader: inout WireReader, into message: inout DynamicMessage,
    in type: MessageType, depth: Int
  ) throws(ProtoJSONError) {
    switch field.label {
    case .map:
      guard wireType == .lengthDelimited else { throw wrongWireType(wireType, expected: .lengthDelimited) }
      let entry = try readMapEntry(try reader.readLengthDelimited(), of: field, depth: depth)
      var entries: [MapEntry] = []
      if case .map(let existing) = message.fields[field.number] { entries = existing }
      entries.removeAll { $0.key == entry.key }
      entries.append(entry)
      message.fields[field.number] = .map(entries)
    case .repeated:
      var elements: [ProtoValue] = []
      if case .list(let existing) = message.fields[field.number] { elements = existing }
      if wireType == .lengthDelimited, field.kind.isPackable {
        var packed = WireReader(try reader.readLengthDelimited())
        while !packed.isAtEnd {
          elements.append(try readValue(field.kind, typeName: field.typeName, from: &packed, depth: depth))
        }
      } else {
        guard wireType == field.kind.wireType else { throw wrongWireType(wireType, expected: field.kind.wireType) }
        elements.append(try readValue(field.kind, typeName: field.typeName, from: &reader, depth: depth))
      }
      message.fields[field.number] = .list(elements)
    case .singular:
      guard wireType == field.kind.wireType else { throw wrongWireType(wireType, expected: field.kind.wireType) }
      var value = try readValue(field.kind, typeName: field.typeName, from: &reader, depth: depth)
      if case .single(.message(let existing)) = message.fields[field.number], case .message(let update) = value {
        value = .message(Self.merge(update, into: existing))
      }
      if let oneof = field.oneofName {
        for member in type.members(ofOneof: oneof) where member.number != field.number {
          message.fields[member.number] = nil
        }
      }
      message.fields[field.number] = .single(value)
    }
  }

  private func readMapEntry(_ bytes: ArraySlice<UInt8>, of field: MessageField, depth: Int) throws(ProtoJSONError) -> MapEntry {
    guard let keyKind = field.mapKeyKind else { throw ProtoJSONError("a map field without a key kind") }
    var key = ProtoValue.zero(of: keyKind, typeName: "")
    var value = ProtoValue.zero(of: field.kind, typeName: field.typeName)
    var reader = WireReader(bytes)
    while !reader.isAtEnd {
      let (number, wireType) = try reader.readTag()
      switch number {
      case 1:
        guard wireType == keyKind.wireType else { throw wrongWireType(wireType, expected: keyKind.wireType) }
        key = try readValue(keyKind, typeName: "", from: &reader, depth: depth)
      case 2:
        guard wireType == field.kind.wireType else { throw wrongWireType(wireType, expected: field.kind.wireType) }
        value = try readValue(field.kind, typeName: field.typeName, from: &reader, depth: depth)
      default:
        try reader.skip(wireType)
      }
    }
    return MapEntry(key, value)
  }

  /// Reads one value of `kind` (without its tag).
  private func readValue(
    _ kind: FieldKind, typeName: String, from reader: inout WireReader, depth: Int
  ) throws(ProtoJSONError) -> ProtoValue {
    switch kind {
    case .int32: return .signed(Int64(Int32(truncatingIfNeeded: try reader.readVarint())))
    case .int64: return .signed(Int64(bitPattern: try reader.readVarint()))
    case .uint32: return .unsigned(UInt64(UInt32(truncatingIfNeeded: try reader.readVarint())))
    case .uint64: return .unsigned(try reader.readVarint())
    case .sint32: return .signed(Int64(Int32(truncatingIfNeeded: WireReader.unZigZag(try reader.readVarint()))))
    case .sint64: return .signed(WireReader.unZigZag(try reader.readVarint()))
    case .bool: return .bool(try reader.readVarint() != 0)
    case .enumeration: return .enumNumber(Int32(truncatingIfNeeded: try reader.readVarint()))
    case .fixed32: return .unsigned(UInt64(try reader.readFixed32()))
    case .sfixed32: return .signed(Int64(Int32(bitPattern: try reader.readFixed32())))
    case .float: return .float(Float(bitPattern: try reader.readFixed32()))
    case .fixed64: return .unsigned(try reader.readFixed64())
    case .sfixed64: return .signed(Int64(bitPattern: try reader.readFixed64()))
    case .double: return .double(Double(bitPattern: try reader.readFixed64()))
    case .string:
      let bytes = try reader.readLengthDelimited()
      guard let text = String(validating: bytes, as: UTF8.self) else { throw ProtoJSONError("string is not valid UTF-8") }
      return .string(text)
    case .bytes: return .bytes(Array(try reader.readLengthDelimited()))
    case .message: return .message(try decode(try reader.readLengthDelimited(), as: typeName, depth: depth + 1))
    case .unsupported(let number): throw FieldKind.unsupportedError(number)
    }
  }

  private func wrongWireType(_ wireType: WireType, expected: WireType) -> ProtoJSONError {
    ProtoJSONError("wire type \(wireType.rawValue) where \(expected.rawValue) was expected")
  }

  /// Protobuf's merge: set fields of `update` replace singular values (messages merge
  /// recursively), lists append, map entries replace by key.
  static func merge(_ update: DynamicMessage, into base: DynamicMessage) -> DynamicMessage {
    var merged = base
    for (number, value) in update.fields {
      switch (merged.fields[number], value) {
      case (.single(.message(let old))?, .single(.message(let new))):
        merged.fields[number] = .single(.message(merge(new, into: old)))
      case (.list(let old)?, .list(let new)):
        merged.fields[number] = .list(old + new)
      case (.map(let old)?, .map(let new)):
        let replaced = Set(new.map(\.key))
        merged.fields[number] = .map(old.filter { !replaced.contains($0.key) } + new)
      default:
        merged.fields[number] = value
      }
    }
    return merged
  }
}
