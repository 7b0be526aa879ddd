/// Reads protobuf wire primitives from bytes, failing on truncated or malformed input.
struct WireReader {
  private let bytes: ArraySlice<UInt8>
  private var index: Int

  init(_ bytes: ArraySlice<UInt8>) {
    self.bytes = bytes
    self.index = bytes.startIndex
  }

  var isAtEnd: Bool { index >= bytes.endIndex }

  mutating func readVarint() throws(ProtoJSONError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard index < bytes.endIndex else { throw ProtoJSONError("truncated varint") }
      let byte = bytes[index]
      index += 1
      if shift == 63, byte > 1 { throw ProtoJSONError("varint longer than 64 bits") }
      result |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
      if shift > 63 { throw ProtoJSONError("varint longer than 10 bytes") }
    }
  }

  /// A field's number and wire type.
  mutating func readTag() throws(ProtoJSONError) -> (number: Int32, wireType: WireType) {
    let tag = try readVarint()
    guard tag <= UInt64(UInt32.max) else { throw ProtoJSONError("invalid field tag \(tag)") }
    let number = Int32(truncatingIfNeeded: tag >> 3)
    guard number > 0, let wireType = WireType(rawValue: UInt8(tag & 7)) else {
      throw ProtoJSONError("invalid field tag \(tag)")
    }
    return (number, wireType)
  }

  mutating func readFixed32() throws(ProtoJSONError) -> UInt32 { try readLittleEndian(UInt32.self, "fixed32") }

  mutating func readFixed64() throws(ProtoJSONError) -> UInt64 { try readLittleEndian(UInt64.self, "fixed64") }

  /// A fixed-width little-endian integer; `name` is the wire type for the error.
  private mutating func readLittleEndian<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ name: String)
    throws(ProtoJSONError) -> T
  {
    let size = MemoryLayout<T>.size
    guard bytes.endIndex - index >= size else { throw ProtoJSONError("truncated \(name)") }
    var value: T = 0
    for offset in 0..<size { value |= T(bytes[index + offset]) << (8 * offset) }
    index += size
    return value
  }

  mutating func readLengthDelimited() throws(ProtoJSONError) -> ArraySlice<UInt8> {
    let length = try readVarint()
    guard length <= UInt64(bytes.endIndex - index) else { throw ProtoJSONError("truncated length-delimited field") }
    let start = index
    index += Int(length)
    return bytes[start..<index]
  }

  /// Skips one value of an unknown field.
  mutating func skip(_ wireType: WireType) throws(ProtoJSONError) {
    switch wireType {
    case .varint: _ = try readVarint()
    case .fixed32: _ = try readFixed32()
    case .fixed64: _ = try readFixed64()
    case .lengthDelimited: _ = try readLengthDelimited()
    case .startGroup, .endGroup: throw ProtoJSONError("groups (proto2) are not supported")
    }
  }

  static func unZigZag(_ value: UInt64) -> Int64 {
    Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
  }
}
