import Messages

/// The type of a field's values, as reflection reports it (descriptor.proto's numbering).
///
/// A server built from newer protos may report a kind this build does not know; it becomes
/// ``unsupported(_:)`` and only calls that touch such a field fail.
package enum FieldKind: Hashable, Sendable {
  case double, float, int64, uint64, int32, fixed64, fixed32, bool, string, message, bytes, uint32
  case enumeration, sfixed32, sfixed64, sint32, sint64
  case unsupported(Int32)

  init(_ kind: RpcV1.FieldKind) {
    switch kind {
    case .double: self = .double
    case .float: self = .float
    case .int64: self = .int64
    case .uint64: self = .uint64
    case .int32: self = .int32
    case .fixed64: self = .fixed64
    case .fixed32: self = .fixed32
    case .bool: self = .bool
    case .string: self = .string
    case .message: self = .message
    case .bytes: self = .bytes
    case .uint32: self = .uint32
    case .enum: self = .enumeration
    case .sfixed32: self = .sfixed32
    case .sfixed64: self = .sfixed64
    case .sint32: self = .sint32
    case .sint64: self = .sint64
    case .unspecified: self = .unsupported(0)
    case .unrecognized(let number): self = .unsupported(number)
    }
  }

  /// The keyword in .proto syntax (`int32`, `string`...); empty for messages and enums, which
  /// are written by type name.
  package var protoName: String {
    switch self {
    case .double: "double"
    case .float: "float"
    case .int64: "int64"
    case .uint64: "uint64"
    case .int32: "int32"
    case .fixed64: "fixed64"
    case .fixed32: "fixed32"
    case .bool: "bool"
    case .string: "string"
    case .bytes: "bytes"
    case .uint32: "uint32"
    case .sfixed32: "sfixed32"
    case .sfixed64: "sfixed64"
    case .sint32: "sint32"
    case .sint64: "sint64"
    case .message, .enumeration: ""
    case .unsupported(let number): "<kind \(number)>"
    }
  }

  /// The wire type of one value of this kind.
  var wireType: WireType {
    switch self {
    case .double, .fixed64, .sfixed64: .fixed64
    case .float, .fixed32, .sfixed32: .fixed32
    case .string, .bytes, .message, .unsupported: .lengthDelimited
    case .int64, .uint64, .int32, .uint32, .sint32, .sint64, .bool, .enumeration: .varint
    }
  }

  /// Whether repeated values of this kind may be packed into one length-delimited record.
  var isPackable: Bool { wireType != .lengthDelimited }

  /// The error converting a value of ``unsupported(_:)`` kind `number` gives. Only reflection
  /// from a server built from newer protos reports such kinds, so the message speaks as rpcctl,
  /// the client that reflects.
  static func unsupportedError(_ number: Int32) -> ProtoJSONError {
    ProtoJSONError("this rpcctl does not know field kind \(number)")
  }

  /// Whether proto3 JSON writes values of this kind as strings (the 64-bit integers).
  var isSixtyFourBitInteger: Bool {
    switch self {
    case .int64, .uint64, .fixed64, .sfixed64, .sint64: true
    default: false
    }
  }
}
