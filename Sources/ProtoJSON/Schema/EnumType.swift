package import Messages

/// One enum type: values in declaration order, with lookups by name and number.
package struct EnumType: Hashable, Sendable {
  /// One named number.
  package struct Value: Hashable, Sendable {
    package var name: String
    package var number: Int32
  }

  package var fullName: String
  package var values: [Value]

  init(fullName: String, values: [Value]) {
    self.fullName = fullName
    self.values = values
  }

  package init(_ schema: RpcV1.EnumSchema) {
    self.init(fullName: schema.fullName, values: schema.values.map { Value(name: $0.name, number: $0.number) })
  }

  /// The first value with this number (aliases share numbers).
  package func name(of number: Int32) -> String? {
    values.first { $0.number == number }?.name
  }

  package func number(of name: String) -> Int32? {
    values.first { $0.name == name }?.number
  }

  /// The value proto3 uses when none is set: the first declared (number 0 in proto3).
  var defaultNumber: Int32 { values.first(where: { $0.number == 0 })?.number ?? values.first?.number ?? 0 }
}
