import Messages
import NIOCore
import Testing

/// ProtoWireScan reads one field's length off the wire as a decoder would see it, and refuses
/// what a decoder refuses.
@Suite struct WireScanTests {
  func scan(_ bytes: [UInt8], _ field: UInt64) throws -> Int {
    try bytes.withUnsafeBytes { try ProtoWireScan.lengthOfField(field, in: $0) }
  }

  @Test func findsAFieldsLengthWithoutDecoding() throws {
    var response = RpcV1.EchoResponse()
    response.message = "hello"
    response.payload = [UInt8](repeating: 9, count: 300)  // a two-byte length
    response.requestCount = 1
    response.remainingDeadline = .with { $0.seconds = 3 }
    var buffer = ByteBuffer()
    try response.encode(into: &buffer)
    let bytes = [UInt8](buffer.readableBytesView)
    #expect(try scan(bytes, 2) == 300)
    #expect(try scan(bytes, 1) == 5)
    #expect(try scan(bytes, 9) == 0)  // absent
    #expect(try scan([], 2) == 0)
    // Field 4 (request_count) is a varint, not length-delimited.
    #expect(throws: ProtoError.self) { try scan(bytes, 4) }
    // Cut anywhere inside, the bytes are refused.
    for cut in [1, 3, 10, bytes.count - 1] {
      #expect(throws: ProtoError.self) { try scan([UInt8](bytes[..<cut]), 2) }
    }
    #expect(throws: ProtoError.self) { try scan([0x13, 0x00], 2) }  // wire type 3 (groups) is not supported
  }
}
