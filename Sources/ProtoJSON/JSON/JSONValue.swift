/// A parsed JSON value.
///
/// Numbers keep their source text, so 64-bit integers and decimals reach the protobuf mapping
/// exactly as written (`Double` would round anything above 2^53). Objects keep their members in
/// order, duplicates included, so the mapping can report a field given twice.
package enum JSONValue: Hashable, Sendable {
  case null
  case bool(Bool)
  /// The number's text as it appears in JSON, for example `-12`, `1.5e3`.
  case number(String)
  case string(String)
  case array([JSONValue])
  case object([JSONMember])

  /// A short description of the value's type for error messages: `a string`, `an object`...
  package var typeDescription: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .number: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
  }
}
