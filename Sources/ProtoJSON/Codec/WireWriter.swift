/// Appends protobuf wire primitives to a byte array.
struct WireWriter {
  private(set) var bytes: [UInt8] = []

  mutating func appendVarint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  mutating func appendTag(_ number: Int32, _ wireType: WireType) {
    appendVarint(UInt64(UInt32(bitPattern: number)) << 3 | UInt64(wireType.rawValue))
  }

  mutating func appendFixed32(_ value: UInt32) {
    for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
  }

  mutating func appendFixed64(_ value: UInt64) {
    for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
  }

  mutating func appendLengthDelimited(_ payload: some Collection<UInt8>) {
    appendVarint(UInt64(payload.count))
    bytes.append(contentsOf: payload)
  }

  static func zigZag(_ value: Int64) -> UInt64 {
    UInt64(bitPattern: (value << 1) ^ (value >> 63))
  }
}
