internal import CProtobufC

/// Measures how deeply messages nest in encoded bytes, without allocating, before protobuf-c
/// (which recurses without a limit) sees them. Only message-typed fields known to the schema
/// count: protobuf-c keeps unknown fields as opaque bytes and never recurses into them.
enum ProtoNestingCheck {
  static func verify(
    _ bytes: UnsafeRawBufferPointer, descriptor: UnsafePointer<ProtobufCMessageDescriptor>, limit: Int
  ) throws(ProtoError) {
    guard let start = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
    try scan(start, count: bytes.count, descriptor: descriptor, depth: 1, limit: limit)
  }

  private static func scan(
    _ start: UnsafePointer<UInt8>, count: Int, descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
    depth: Int, limit: Int
  ) throws(ProtoError) {
    var index = 0
    while index < count {
      let tag = try varint(start, count: count, index: &index)
      let number = tag >> 3
      guard number > 0, number <= 536_870_911 else { throw malformed("field number out of range") }
      switch tag & 7 {
      case 0: _ = try varint(start, count: count, index: &index)
      case 1: try skip(8, count: count, index: &index)
      case 5: try skip(4, count: count, index: &index)
      case 2:
        let length = try varint(start, count: count, index: &index)
        guard length <= UInt64(count - index) else { throw malformed("length runs past the end") }
        if let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(number)),
          field.pointee.type == PROTOBUF_C_TYPE_MESSAGE
        {
          guard depth < limit else {
            throw ProtoError(code: .nestingTooDeep, message: "messages nest deeper than the limit of \(limit)")
          }
          let child = field.pointee.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
          try scan(start + index, count: Int(length), descriptor: child, depth: depth + 1, limit: limit)
        }
        index += Int(length)
      default: throw malformed("unsupported wire type \(tag & 7)")
      }
    }
  }

  static func varint(_ start: UnsafePointer<UInt8>, count: Int, index: inout Int) throws(ProtoError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while index < count {
      let byte = start[index]
      index += 1
      result |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
      if shift >= 70 { throw malformed("varint longer than 10 bytes") }
    }
    throw malformed("truncated varint")
  }

  static func skip(_ bytes: Int, count: Int, index: inout Int) throws(ProtoError) {
    guard bytes <= count - index else { throw malformed("truncated fixed-width field") }
    index += bytes
  }

  static func malformed(_ detail: String) -> ProtoError {
    ProtoError(code: .malformed, message: "not a valid protobuf encoding: \(detail)")
  }
}

/// Reads an encoded message's top-level fields without decoding it: for checks that need one
/// field's shape and not the message (a load generator checking each of a million responses).
public enum ProtoWireScan {
  /// The length of length-delimited field `number` at the top level of `bytes` (its last
  /// occurrence, as a decoder keeps; 0 when it is absent, as proto3 decodes an absent bytes or
  /// string field). Throws when `bytes` is not a well-formed encoding, or `number` occurs with
  /// another wire type.
  public static func lengthOfField(_ number: UInt64, in bytes: UnsafeRawBufferPointer) throws(ProtoError) -> Int {
    guard let start = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
    let count = bytes.count
    var index = 0
    var found = 0
    while index < count {
      let tag = try ProtoNestingCheck.varint(start, count: count, index: &index)
      let field = tag >> 3
      guard field > 0, field <= 536_870_911 else { throw ProtoNestingCheck.malformed("field number out of range") }
      if field == number, tag & 7 != 2 { throw ProtoNestingCheck.malformed("field \(number) is not length-delimited") }
      switch tag & 7 {
      case 0: _ = try ProtoNestingCheck.varint(start, count: count, index: &index)
      case 1: try ProtoNestingCheck.skip(8, count: count, index: &index)
      case 5: try ProtoNestingCheck.skip(4, count: count, index: &index)
      case 2:
        let length = try ProtoNestingCheck.varint(start, count: count, index: &index)
        guard length <= UInt64(count - index) else { throw ProtoNestingCheck.malformed("length runs past the end") }
        if field == number { found = Int(length) }
        index += Int(length)
      default: throw ProtoNestingCheck.malformed("unsupported wire type \(tag & 7)")
      }
    }
    return found
  }
}
