/// The value of one field: one value, a list or a map.
enum DynamicField: Hashable, Sendable {
  case single(ProtoValue)
  case list([ProtoValue])
  case map([MapEntry])
}

/// One entry of a map field.
struct MapEntry: Hashable, Sendable {
  var key: ProtoValue
  var value: ProtoValue

  init(_ key: ProtoValue, _ value: ProtoValue) {
    self.key = key
    self.value = value
  }
}
