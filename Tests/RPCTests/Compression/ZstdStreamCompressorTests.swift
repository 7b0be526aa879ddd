import NIOCore
import RPC
import Testing

@Suite("ZstdStreamCompressor")
struct ZstdStreamCompressorTests {
  typealias SeededRandom = ZstdTestSupport.SeededRandom

  @Test("after every flush, the peer decodes exactly the bytes sent so far")
  func everyFlushMakesAllSentBytesDecodable() throws {
    var random = SeededRandom(seed: 1)
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var sent: [UInt8] = []
    var decoded: [UInt8] = []
    var wire = ByteBuffer()
    var index = 0

    for batch in 0..<60 {
      var compressed = ByteBuffer()
      for _ in 0..<Int.random(in: 1...20, using: &random) {
        let message: [UInt8]
        if batch == 30 {
          // One batch larger than a zstd block and incompressible: output needs several rounds.
          message = random.bytes(300 << 10)
        } else {
          message = ZstdTestSupport.message(index, size: Int.random(in: 1...2000, using: &random), using: &random)
        }
        index += 1
        try compressor.compress(ByteBuffer(bytes: message), into: &compressed)
        sent += message
      }
      try compressor.flush(into: &compressed)
      #expect(compressed.readableBytes > 0)

      wire.writeBuffer(&compressed)
      _ = try ZstdTestSupport.drain(&decompressor, &wire, maxOutputBytes: 16 << 10, into: &decoded)
      #expect(wire.readableBytes == 0)
      #expect(decoded.count == sent.count, "batch \(batch)")
      #expect(ZstdTestSupport.firstMismatch(decoded, sent) == nil, "batch \(batch)")
    }
  }

  @Test("one stream flushed per message beats independent frames on similar small messages")
  func oneStreamBeatsIndependentFrames() throws {
    var random = SeededRandom(seed: 2)
    let messages = (0..<200).map { ZstdTestSupport.message($0, size: 100, using: &random) }

    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var stream = ByteBuffer()
    for message in messages {
      try message.withUnsafeBytes { bytes in try compressor.compress(bytes, into: &stream) }
      try compressor.flush(into: &stream)
    }

    var framesTotal = 0
    for message in messages {
      let frame = ZstdStreamCompressor.compressFrame(message, level: 3)
      framesTotal += frame.count
    }

    // The stream must also be the messages, or the comparison means nothing.
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var decoded: [UInt8] = []
    let streamTotal = stream.readableBytes
    _ = try ZstdTestSupport.drain(&decompressor, &stream, maxOutputBytes: 64 << 10, into: &decoded)
    #expect(ZstdTestSupport.firstMismatch(decoded, messages.flatMap { $0 }) == nil)

    #expect(streamTotal < framesTotal)
  }

  @Test("compressFrame produces one complete frame any decoder reads")
  func compressFrameIsDecodable() throws {
    var random = SeededRandom(seed: 3)
    let message = ZstdTestSupport.message(7, size: 5000, using: &random)
    let frame = ZstdStreamCompressor.compressFrame(message, level: 3)
    #expect(frame.count < message.count)

    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var input = ByteBuffer(bytes: frame)
    var decoded: [UInt8] = []
    _ = try ZstdTestSupport.drain(&decompressor, &input, maxOutputBytes: 1 << 20, into: &decoded)
    #expect(decoded == message)
  }

  @Test("flushing with nothing new appends nothing and keeps the stream intact")
  func emptyFlushAppendsNothing() throws {
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var compressed = ByteBuffer()
    try compressor.compress(ByteBuffer(string: "first"), into: &compressed)
    try compressor.flush(into: &compressed)
    let afterFirstFlush = compressed.readableBytes
    try compressor.flush(into: &compressed)
    try compressor.compress(ByteBuffer(), into: &compressed)
    try compressor.flush(into: &compressed)
    #expect(compressed.readableBytes == afterFirstFlush)

    try compressor.compress(ByteBuffer(string: "second"), into: &compressed)
    try compressor.flush(into: &compressed)
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var decoded: [UInt8] = []
    _ = try ZstdTestSupport.drain(&decompressor, &compressed, maxOutputBytes: 1024, into: &decoded)
    #expect(decoded == Array("firstsecond".utf8))
  }

  @Test(
    "levels and window logs outside libzstd's range are refused",
    arguments: [(Int32(3), Int32(9)), (3, 32), (3, 0), (1000, 17), (-1_000_000, 17)]
  )
  func outOfRangeParametersAreRefused(level: Int32, windowLog: Int32) {
    do throws(ZstdError) {
      _ = try ZstdStreamCompressor(level: level, windowLog: windowLog)
      Issue.record("level \(level), windowLog \(windowLog) was accepted")
    } catch {
      #expect(error.code == .parameterOutOfBound)
    }
  }

  @Test("memoryUsage reflects the window the stream uses")
  func memoryUsageGrowsWithTheWindow() throws {
    var small = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var large = try ZstdStreamCompressor(level: 3, windowLog: 23)
    var output = ByteBuffer()
    try small.compress(ByteBuffer(string: "hello"), into: &output)
    try small.flush(into: &output)
    try large.compress(ByteBuffer(string: "hello"), into: &output)
    try large.flush(into: &output)

    #expect(small.memoryUsage > 1 << 17)
    #expect(large.memoryUsage > 1 << 23)
    #expect(small.memoryUsage < large.memoryUsage)
  }
}
