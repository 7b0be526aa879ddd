/// Reads big-endian values from a buffer, throwing ``PostgresError/Code/malformedValue`` when
/// it runs out.
struct BinaryReader {
  private let bytes: UnsafeRawBufferPointer
  private(set) var offset = 0

  init(_ bytes: UnsafeRawBufferPointer) {
    self.bytes = bytes
  }

  var remaining: Int { self.bytes.count - self.offset }

  mutating func read<Integer: FixedWidthInteger>(_ type: Integer.Type) throws -> Integer {
    let size = MemoryLayout<Integer>.size
    guard self.remaining >= size else {
      throw PostgresError.client(.malformedValue, "ends early (binary format)")
    }
    let value = self.bytes.loadUnaligned(fromByteOffset: self.offset, as: Integer.self)
    self.offset += size
    return Integer(bigEndian: value)
  }

  mutating func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
    guard count >= 0, self.remaining >= count else {
      throw PostgresError.client(.malformedValue, "ends early (binary format)")
    }
    let slice = UnsafeRawBufferPointer(rebasing: self.bytes[self.offset..<(self.offset + count)])
    self.offset += count
    return slice
  }
}
