/// A protobuf message held without a compiled type: its full type name and the values of the
/// fields that are set, by field number. The codec fills and reads it against a
/// ``SchemaCatalog``.
struct DynamicMessage: Hashable, Sendable {
  var typeName: String
  var fields: [Int32: DynamicField]

  init(typeName: String, fields: [Int32: DynamicField] = [:]) {
    self.typeName = typeName
    self.fields = fields
  }
}
