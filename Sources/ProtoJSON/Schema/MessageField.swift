package import Messages

/// One field of a ``MessageType``.
package struct MessageField: Hashable, Sendable {
  /// The name in the .proto file (`create_time`).
  package var name: String
  /// The proto3 JSON name (`createTime`).
  package var jsonName: String
  package var number: Int32
  package var label: FieldLabel
  /// The kind of the values (for maps: of the map's values).
  package var kind: FieldKind
  /// For messages and enums: the full type name (for maps: of the map's values).
  package var typeName: String
  /// For maps: the kind of the keys.
  package var mapKeyKind: FieldKind?
  /// The oneof the field belongs to.
  package var oneofName: String?
  /// Whether repeated values are written packed.
  package var packed: Bool
  /// Whether "not set" differs from the zero value (messages, oneof members, `optional`).
  package var tracksPresence: Bool

  init(
    name: String, jsonName: String? = nil, number: Int32, label: FieldLabel = .singular, kind: FieldKind,
    typeName: String = "", mapKeyKind: FieldKind? = nil, oneofName: String? = nil, packed: Bool? = nil,
    tracksPresence: Bool? = nil
  ) {
    self.name = name
    self.jsonName = jsonName ?? ProtoFieldSchema.jsonName(of: name)
    self.number = number
    self.label = label
    self.kind = kind
    self.typeName = typeName
    self.mapKeyKind = mapKeyKind
    self.oneofName = oneofName
    self.packed = packed ?? (label == .repeated && kind.isPackable)
    self.tracksPresence = tracksPresence ?? (label == .singular && (kind == .message || oneofName != nil))
  }

  package init(_ schema: RpcV1.FieldSchema) {
    let label: FieldLabel =
      switch schema.label {
      case .repeated: .repeated
      case .map: .map
      default: .singular
      }
    self.init(
      name: schema.name, jsonName: schema.jsonName.isEmpty ? nil : schema.jsonName, number: schema.number,
      label: label, kind: FieldKind(schema.kind), typeName: schema.typeName,
      mapKeyKind: label == .map ? FieldKind(schema.mapKeyKind) : nil,
      oneofName: schema.oneofName.isEmpty ? nil : schema.oneofName, packed: schema.packed,
      tracksPresence: schema.tracksPresence || (label == .singular && FieldKind(schema.kind) == .message))
  }
}
