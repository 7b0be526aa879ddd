/// Encodes ``DynamicMessage``s as protobuf wire bytes, using a ``SchemaCatalog`` for the field
/// kinds. Fields are written in number order; repeated numeric fields are packed when the
/// schema says so; map entries always carry both key and value.
struct WireEncoder {
  let catalog: SchemaCatalog

  func encode(_ message: DynamicMessage) throws(ProtoJSONError) -> [UInt8] {
    var writer = WireWriter()
    try append(message, into: &writer)
    return writer.bytes
  }

  private func append(_ message: DynamicMessage, into writer: inout WireWriter) throws(ProtoJSONError) {
    let type = try catalog.message(message.typeName)
    for number in message.fields.keys where type.field(number: number) == nil {
      throw ProtoJSONError("\(type.fullName) has no field number \(number)")
    }
    for field in type.fields {
      guard let value = message.fields[field.number] else { continue }
      do {
        try append(value, of: field, into: &writer)
      } catch {
        throw error.under(field.jsonName)
      }
    }
  }

  private func append(_ value: DynamicField, of field: MessageField, into writer: inout WireWriter) throws(ProtoJSONError) {
    switch value {
    case .single(let single):
      writer.appendTag(field.number, field.kind.wireType)
      try append(single, kind: field.kind, into: &writer)
    case .list(let elements):
      if field.packed, field.kind.isPackable {
        guard !elements.isEmpty else { return }
        var packed = WireWriter()
        for element in elements { try append(element, kind: field.kind, into: &packed) }
        writer.appendTag(field.number, .lengthDelimited)
        writer.appendLengthDelimited(packed.bytes)
      } else {
        for element in elements {
          writer.appendTag(field.number, field.kind.wireType)
          try append(element, kind: field.kind, into: &writer)
        }
      }
    case .map(let entries):
      guard let keyKind = field.mapKeyKind else { throw ProtoJSONError("a map field without a key kind") }
      for entry in entries {
        var entryWriter = WireWriter()
        entryWriter.appendTag(1, keyKind.wireType)
        try append(entry.key, kind: keyKind, into: &entryWriter)
        entryWriter.appendTag(2, field.kind.wireType)
        try append(entry.value, kind: field.kind, into: &entryWriter)
        writer.appendTag(field.number, .lengthDelimited)
        writer.appendLengthDelimited(entryWriter.bytes)
      }
    }
  }

  /// Appends one value without its tag.
  private func append(_ value: ProtoValue, kind: FieldKind, into writer: inout WireWriter) throws(ProtoJSONError) {
    switch (kind, value) {
    case (.int32, .signed(let number)), (.int64, .signed(let number)):
      writer.appendVarint(UInt64(bitPattern: number))
    case (.enumeration, .enumNumber(let number)):
      writer.appendVarint(UInt64(bitPattern: Int64(number)))
    case (.sint32, .signed(let number)), (.sint64, .signed(let number)):
      writer.appendVarint(WireWriter.zigZag(number))
    case (.uint32, .unsigned(let number)), (.uint64, .unsigned(let number)):
      writer.appendVarint(number)
    case (.fixed32, .unsigned(let number)):
      writer.appendFixed32(UInt32(truncatingIfNeeded: number))
    case (.sfixed32, .signed(let number)):
      writer.appendFixed32(UInt32(bitPattern: Int32(truncatingIfNeeded: number)))
    case (.fixed64, .unsigned(let number)):
      writer.appendFixed64(number)
    case (.sfixed64, .signed(let number)):
      writer.appendFixed64(UInt64(bitPattern: number))
    case (.float, .float(let number)):
      writer.appendFixed32(number.bitPattern)
    case (.double, .double(let number)):
      writer.appendFixed64(number.bitPattern)
    case (.bool, .bool(let flag)):
      writer.appendVarint(flag ? 1 : 0)
    case (.string, .string(let text)):
      writer.appendLengthDelimited(Array(text.utf8))
    case (.bytes, .bytes(let bytes)):
      writer.appendLengthDelimited(bytes)
    case (.message, .message(let message)):
      var nested = WireWriter()
      try append(message, into: &nested)
      writer.appendLengthDelimited(nested.bytes)
    case (.unsupported(let number), _):
      throw FieldKind.unsupportedError(number)
    default:
      throw ProtoJSONError("value \(value) does not fit field kind \(kind)")
    }
  }
}
