/// One value. Which case holds a field's value follows from its ``FieldKind``: the signed
/// kinds (`int32`, `sint64`, `sfixed32`...) use `signed`, the unsigned ones `unsigned`.
enum ProtoValue: Hashable, Sendable {
  case signed(Int64)
  case unsigned(UInt64)
  case float(Float)
  case double(Double)
  case bool(Bool)
  case string(String)
  case bytes([UInt8])
  case enumNumber(Int32)
  case message(DynamicMessage)

  /// The zero value of a kind (for messages: an empty message of `typeName`).
  static func zero(of kind: FieldKind, typeName: String) -> ProtoValue {
    switch kind {
    case .int32, .int64, .sint32, .sint64, .sfixed32, .sfixed64: .signed(0)
    case .uint32, .uint64, .fixed32, .fixed64: .unsigned(0)
    case .float: .float(0)
    case .double: .double(0)
    case .bool: .bool(false)
    case .string: .string("")
    case .bytes, .unsupported: .bytes([])
    case .enumeration: .enumNumber(0)
    case .message: .message(DynamicMessage(typeName: typeName))
    }
  }

  /// Whether this is a scalar's zero value (`0`, `""`, `false`, no bytes, enum number 0);
  /// messages never are.
  var isZero: Bool {
    switch self {
    case .signed(let value): value == 0
    case .unsigned(let value): value == 0
    case .float(let value): value == 0 && value.sign == .plus
    case .double(let value): value == 0 && value.sign == .plus
    case .bool(let value): !value
    case .string(let value): value.isEmpty
    case .bytes(let value): value.isEmpty
    case .enumNumber(let value): value == 0
    case .message: false
    }
  }
}
