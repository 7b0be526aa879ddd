import Messages

/// One enum type: values in declaration order, with lookups by name and number.
struct EnumType: Hashable, Sendable {
  /// One named number.
  struct Value: Hashable, Sendable {
    var name: String
    var number: Int32
  }

  var fullName: String
  var values: [Value]

  init(fullName: String, values: [Value]) {
    self.fullName = fullName
    self.values = values
  }

  init(_ schema: RpcV1.EnumSchema) {
    self.init(fullName: schema.fullName, values: schema.values.map { Value(name: $0.name, number: $0.number) })
  }

  /// The first value with this number (aliases share numbers).
  func name(of number: Int32) -> String? {
    values.first { $0.number == number }?.name
  }

  func number(of name: String) -> Int32? {
    values.first { $0.name == name }?.number
  }

  /// The value proto3 uses when none is set: the first declared (number 0 in proto3).
  var defaultNumber: Int32 { values.first(where: { $0.number == 0 })?.number ?? values.first?.number ?? 0 }
}
