import NIOCore
import RPC
import Testing

@Suite("ZstdStreamDecompressor")
struct ZstdStreamDecompressorTests {
  typealias SeededRandom = ZstdTestSupport.SeededRandom

  /// `count` bytes of compressible but not trivial data: messages with random values.
  static func traffic(_ count: Int, seed: UInt64) -> [UInt8] {
    var random = SeededRandom(seed: seed)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    var index = 0
    while bytes.count < count {
      bytes += ZstdTestSupport.message(index, size: min(Int.random(in: 50...3000, using: &random), count - bytes.count), using: &random)
      index += 1
    }
    return bytes
  }

  @Test("a stream whose window exceeds windowLogMax is refused with an error")
  func windowLargerThanAllowedIsRefused() throws {
    let data = Self.traffic(4 << 20, seed: 10)
    var compressor = try ZstdStreamCompressor(level: 1, windowLog: 23)
    var compressed = ByteBuffer()
    try compressor.compress(ByteBuffer(bytes: data), into: &compressed)
    try compressor.flush(into: &compressed)

    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var output = ByteBuffer()
    do throws(ZstdError) {
      _ = try decompressor.decompress(&compressed, into: &output, maxOutputBytes: 64 << 10)
      Issue.record("a 8 MiB window was accepted by a decoder limited to 128 KiB")
    } catch {
      #expect(error.code == .windowTooLarge)
      #expect(error.message == "Frame requires too much memory for decoding")
    }
    #expect(output.readableBytes == 0)
    #expect(decompressor.memoryUsage < 1 << 20)
  }

  @Test("a decompression bomb comes out at most maxOutputBytes per call")
  func decompressionBombIsPulledInBoundedPieces() throws {
    let zeros = ByteBuffer(repeating: 0, count: 1 << 20)
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var bomb = ByteBuffer()
    for _ in 0..<64 {
      try compressor.compress(zeros, into: &bomb)
    }
    try compressor.flush(into: &bomb)
    #expect(bomb.readableBytes < 16 << 10, "64 MiB of zeros should compress to a few KiB")

    let bound = 64 << 10
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    // A reused receive buffer with far more spare capacity than the bound: the bound must hold
    // however much room `output` happens to have.
    var output = ByteBufferAllocator().buffer(capacity: 1 << 20)
    var total = 0
    var calls = 0
    var largest = 0
    var more = true
    while more {
      more = try decompressor.decompress(&bomb, into: &output, maxOutputBytes: bound)
      calls += 1
      if calls == 1 {
        // The whole bomb arrived at once, yet the first call must leave most of it unread.
        #expect(bomb.readableBytes > 0)
      }
      largest = max(largest, output.readableBytes)
      total += output.readableBytes
      output.clear()
    }

    #expect(largest <= bound)
    #expect(total == 64 << 20)
    #expect(calls >= (64 << 20) / bound)
    #expect(bomb.readableBytes == 0)
    #expect(decompressor.memoryUsage < 1 << 20)
  }

  @Test("random bytes are an error, not a crash", arguments: [UInt64(1), 2, 3, 42, 1234])
  func garbageIsAnError(seed: UInt64) throws {
    var random = SeededRandom(seed: seed)
    var garbage = ByteBuffer(bytes: random.bytes(4096))
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var output = ByteBuffer()
    do throws(ZstdError) {
      var more = true
      while more {
        more = try decompressor.decompress(&garbage, into: &output, maxOutputBytes: 64 << 10)
        output.clear()
      }
      Issue.record("random bytes decoded without an error")
    } catch {
      #expect(error.code == .unknownFrame)
    }
  }

  @Test("random bytes after a valid stream prefix never break the output bound")
  func randomTailAfterValidPrefixStaysBounded() throws {
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var prefix = ByteBuffer()
    try compressor.compress(ByteBuffer(bytes: Self.traffic(10_000, seed: 20)), into: &prefix)
    try compressor.flush(into: &prefix)

    var failures = 0
    for seed in UInt64(0)..<64 {
      var random = SeededRandom(seed: seed)
      var input = prefix
      input.writeBytes(random.bytes(64))
      var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
      var decoded: [UInt8] = []
      do throws(ZstdError) {
        let pulls = try ZstdTestSupport.drain(&decompressor, &input, maxOutputBytes: 32 << 10, into: &decoded)
        #expect(pulls.largestOutput <= 32 << 10)
      } catch {
        failures += 1
      }
    }
    // Most random block headers are invalid; without a checksum, a few may decode as data.
    #expect(failures > 0)
  }

  @Test("after an error, every later call throws the same error")
  func brokenStreamStaysBroken() throws {
    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var output = ByteBuffer()
    var garbage = ByteBuffer(string: "this is not zstd")
    var first: ZstdError?
    do throws(ZstdError) {
      _ = try decompressor.decompress(&garbage, into: &output, maxOutputBytes: 1024)
    } catch {
      first = error
    }
    #expect(first != nil)

    // Even a valid stream is refused now: the connection must end.
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var valid = ByteBuffer()
    try compressor.compress(ByteBuffer(string: "hello"), into: &valid)
    try compressor.flush(into: &valid)
    do throws(ZstdError) {
      _ = try decompressor.decompress(&valid, into: &output, maxOutputBytes: 1024)
      Issue.record("a broken stream decoded more input")
    } catch {
      #expect(error == first)
    }
    #expect(output.readableBytes == 0)
  }

  @Test("feeding the stream one byte at a time reproduces the input")
  func oneByteAtATime() throws {
    let data = Self.traffic(48 << 10, seed: 30)
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var compressed = ByteBuffer()
    var offset = 0
    while offset < data.count {
      let end = min(offset + 5000, data.count)
      try compressor.compress(ByteBuffer(bytes: data[offset..<end]), into: &compressed)
      try compressor.flush(into: &compressed)
      offset = end
    }

    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var input = ByteBuffer()
    var decoded: [UInt8] = []
    for byte in compressed.readableBytesView {
      input.writeInteger(byte)
      _ = try ZstdTestSupport.drain(&decompressor, &input, maxOutputBytes: 1000, into: &decoded)
      #expect(input.readableBytes == 0)
      input.clear()
    }
    #expect(decoded.count == data.count)
    #expect(ZstdTestSupport.firstMismatch(decoded, data) == nil)
  }

  @Test("calling with no input and nothing pending is harmless, however often")
  func idleCallsAreHarmless() throws {
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var compressed = ByteBuffer()
    try compressor.compress(ByteBuffer(string: "ping"), into: &compressed)
    try compressor.flush(into: &compressed)

    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var decoded: [UInt8] = []
    _ = try ZstdTestSupport.drain(&decompressor, &compressed, maxOutputBytes: 1024, into: &decoded)
    #expect(decoded == Array("ping".utf8))

    // libzstd fails a stream after 16 calls that make no progress; those must never reach it.
    var empty = ByteBuffer()
    var output = ByteBuffer()
    for _ in 0..<100 {
      #expect(try decompressor.decompress(&empty, into: &output, maxOutputBytes: 1024) == false)
    }
    #expect(output.readableBytes == 0)

    try compressor.compress(ByteBuffer(string: "pong"), into: &compressed)
    try compressor.flush(into: &compressed)
    _ = try ZstdTestSupport.drain(&decompressor, &compressed, maxOutputBytes: 1024, into: &decoded)
    #expect(decoded == Array("pingpong".utf8))
  }

  @Test("output exactly filling maxOutputBytes is followed by an empty pull, not an error")
  func exactBoundaryPull() throws {
    let data = Self.traffic(10_000, seed: 40)
    var compressor = try ZstdStreamCompressor(level: 3, windowLog: 17)
    var compressed = ByteBuffer()
    try compressor.compress(ByteBuffer(bytes: data), into: &compressed)
    try compressor.flush(into: &compressed)

    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var output = ByteBuffer()
    #expect(try decompressor.decompress(&compressed, into: &output, maxOutputBytes: data.count) == true)
    #expect(output.readableBytes == data.count)
    #expect(try decompressor.decompress(&compressed, into: &output, maxOutputBytes: data.count) == false)
    #expect(Array(output.readableBytesView) == data)
  }

  @Test("concatenated independent frames decode in one call")
  func concatenatedFrames() throws {
    let first = Array("first frame ".utf8)
    let second = Array("second frame".utf8)
    var input = ByteBuffer(bytes: ZstdStreamCompressor.compressFrame(first, level: 3))
    input.writeBytes(ZstdStreamCompressor.compressFrame(second, level: 3))

    var decompressor = try ZstdStreamDecompressor(windowLogMax: 17)
    var output = ByteBuffer()
    #expect(try decompressor.decompress(&input, into: &output, maxOutputBytes: 1024) == false)
    #expect(Array(output.readableBytesView) == first + second)
  }

  @Test("window log limits outside libzstd's range are refused", arguments: [Int32(0), 9, 32, -1])
  func outOfRangeWindowLogMaxIsRefused(windowLogMax: Int32) {
    do throws(ZstdError) {
      _ = try ZstdStreamDecompressor(windowLogMax: windowLogMax)
      Issue.record("windowLogMax \(windowLogMax) was accepted")
    } catch {
      #expect(error.code == .parameterOutOfBound)
    }
  }
}
