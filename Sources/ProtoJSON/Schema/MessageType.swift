package import Messages

/// One message type: its fields in number order and its oneofs, with lookups by JSON name,
/// original name and number.
package struct MessageType: Hashable, Sendable {
  /// A oneof and its members' names.
  package struct Oneof: Hashable, Sendable {
    package var name: String
    package var fieldNames: [String]
  }

  package var fullName: String
  /// Fields in ascending number order.
  package private(set) var fields: [MessageField]
  package var oneofs: [Oneof]
  private var byName: [String: Int] = [:]
  private var byNumber: [Int32: Int] = [:]

  init(fullName: String, fields: [MessageField], oneofs: [Oneof] = []) {
    self.fullName = fullName
    self.fields = fields.sorted { $0.number < $1.number }
    var oneofs = oneofs
    // Oneofs the server did not list but that fields name (older servers).
    for field in self.fields {
      guard let oneof = field.oneofName else { continue }
      if let position = oneofs.firstIndex(where: { $0.name == oneof }) {
        if !oneofs[position].fieldNames.contains(field.name) { oneofs[position].fieldNames.append(field.name) }
      } else {
        oneofs.append(Oneof(name: oneof, fieldNames: [field.name]))
      }
    }
    self.oneofs = oneofs
    for (position, field) in self.fields.enumerated() {
      byNumber[field.number] = position
      byName[field.name] = position
    }
    // JSON names win over original names only where they do not collide with one.
    for (position, field) in self.fields.enumerated() where byName[field.jsonName] == nil {
      byName[field.jsonName] = position
    }
  }

  package init(_ schema: RpcV1.MessageSchema) {
    self.init(
      fullName: schema.fullName, fields: schema.fields.map(MessageField.init),
      oneofs: schema.oneofs.map { Oneof(name: $0.name, fieldNames: $0.fieldNames) })
  }

  /// The field with this JSON name or original name.
  package func field(named name: String) -> MessageField? {
    byName[name].map { fields[$0] }
  }

  /// The field with this number.
  package func field(number: Int32) -> MessageField? {
    byNumber[number].map { fields[$0] }
  }

  /// Every field of the named oneof.
  package func members(ofOneof name: String) -> [MessageField] {
    fields.filter { $0.oneofName == name }
  }

  /// Whether this is a synthetic oneof of a proto3 `optional` field (`_name` holding `name`).
  package func isSyntheticOneof(_ oneof: Oneof) -> Bool {
    oneof.fieldNames.count == 1 && oneof.name == "_" + oneof.fieldNames[0]
  }
}
