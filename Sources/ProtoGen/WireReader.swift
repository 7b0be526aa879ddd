/// A minimal reader of the protobuf wire format, enough to decode the `FileDescriptorSet`
/// that `protoc-c --descriptor_set_out` writes. The generator has no protobuf dependency of its
/// own: it reads descriptors with this and emits Swift.
struct WireReader {
  /// Raised for bytes that are not a well-formed protobuf message.
  struct Malformed: Error, CustomStringConvertible {
    var description: String
  }

  private let bytes: [UInt8]
  private var index: Int
  private let end: Int

  init(_ bytes: [UInt8]) {
    self.init(bytes, range: 0..<bytes.count)
  }

  private init(_ bytes: [UInt8], range: Range<Int>) {
    self.bytes = bytes
    self.index = range.lowerBound
    self.end = range.upperBound
  }

  /// The next field's number and wire type, or nil at the end of the message.
  mutating func nextField() throws -> (number: Int, wireType: Int)? {
    guard index < end else { return nil }
    let tag = try varint()
    return (Int(tag >> 3), Int(tag & 7))
  }

  mutating func varint() throws -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while index < end {
      let byte = bytes[index]
      index += 1
      result |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
      if shift >= 64 { throw Malformed(description: "varint longer than 10 bytes") }
    }
    throw Malformed(description: "truncated varint")
  }

  mutating func int32() throws -> Int32 { Int32(truncatingIfNeeded: try varint()) }
  mutating func bool() throws -> Bool { try varint() != 0 }

  /// A length-delimited field's contents as a reader of its own.
  mutating func message() throws -> WireReader {
    let length = Int(try varint())
    guard length >= 0, length <= end - index else {
      throw Malformed(description: "length-delimited field runs past the end")
    }
    let sub = WireReader(bytes, range: index..<(index + length))
    index += length
    return sub
  }

  mutating func string() throws -> String {
    let sub = try message()
    return String(decoding: bytes[sub.index..<sub.end], as: UTF8.self)
  }

  /// Packed or unpacked repeated int32 (both encodings are valid for a repeated varint).
  mutating func int32s(wireType: Int) throws -> [Int32] {
    if wireType == 0 { return [try int32()] }
    var sub = try message()
    var values: [Int32] = []
    while sub.index < sub.end { values.append(try sub.int32()) }
    return values
  }

  mutating func skip(wireType: Int) throws {
    switch wireType {
    case 0: _ = try varint()
    case 1: try advance(8)
    case 2: _ = try message()
    case 5: try advance(4)
    default: throw Malformed(description: "unsupported wire type \(wireType)")
    }
  }

  private mutating func advance(_ count: Int) throws {
    guard count <= end - index else { throw Malformed(description: "truncated fixed-width field") }
    index += count
  }
}
