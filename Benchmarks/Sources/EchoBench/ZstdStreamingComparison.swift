import BenchmarkFixtures
import EchoBenchCZstd
import CommerceAPI
import Messages
import NIOCore

/// What zstd streaming buys over per-message compression on real messages.
///
/// Each message set is 1,000 encoded messages (Emporium's `Messages` types) that vary the way a
/// live connection's messages vary: same schema and vocabulary, different identifiers, numbers
/// and text. Two ways to compress the same bytes at the protocol's settings (level 1, or the
/// level asked for):
/// - streaming: one `ZSTD_CCtx` for the whole sequence (window 2^17, as Emporium negotiates by
///   default), `ZSTD_compressStream2(..., ZSTD_e_flush)` after every message, so each message can
///   refer back to the ones before it (what the protocol does, which flushes per write batch);
/// - per message: every message an independent `ZSTD_compressCCtx` frame (one reused context).
/// Both are decompressed again and compared with the input. CPU times are this thread's, the
/// median of 5 passes over the sequence, per message.
enum ZstdStreamingComparison {
  struct Row: Codable, Sendable {
    var name: String
    var messages: Int
    var plainBytes: Int
    var streamingBytes: Int
    var perMessageBytes: Int
    var streamingCompressMicros: Double
    var perMessageCompressMicros: Double
    var streamingDecompressMicros: Double
    var perMessageDecompressMicros: Double
  }

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// The protocol's default level.
  static let level: Int32 = 1
  static let windowLog: Int32 = 17

  static func run(level: Int32 = level) throws -> [Row] {
    try messageSets().map { name, messages in try measure(name: name, messages: messages, level: level) }
  }

  // MARK: Message sets

  static func messageSets() throws -> [(String, [[UInt8]])] {
    var generator = SplitMixGenerator(seed: 2_024)
    func encoded(_ message: some ProtoMessage) throws -> [UInt8] {
      var buffer = ByteBuffer()
      try message.encode(into: &buffer)
      return buffer.readBytes(length: buffer.readableBytes)!
    }
    func echoResponses(payload: Int) throws -> [[UInt8]] {
      try (0..<1_000).map { index in
        var response = RpcV1.EchoResponse()
        response.message = "echo \(index)"
        response.payload = PayloadPool.text(size: payload, using: &generator)
        response.requestCount = 1
        response.serverInstance = "api-3:4711"
        return try encoded(response)
      }
    }
    let search = SampleMessages.searchProductsResponse()
    let searches = try (0..<1_000).map { page -> [UInt8] in
      var response = search
      response.products = search.products.shuffled(using: &generator).map { product in
        var product = product
        product.productId = SampleMessages.identifier(generator.next())
        product.price?.amountMinor += Int64(generator.next() % 2_000)
        product.ratingCount += Int64(generator.next() % 100)
        product.ratingAverage = Double(30 + generator.next() % 21) / 10
        product.inStock = generator.next() % 5 != 0
        product.imageUrl = "https://img.emporium.example/products/\(product.productId)/primary-640w.webp"
        return product
      }
      response.nextPageToken = SampleMessages.identifier(generator.next())
      response.estimatedTotalCount = Int64(1_000 + generator.next() % 5_000)
      return try encoded(response)
    }
    let checkout = SampleMessages.checkoutRequest()
    let checkouts = try (0..<1_000).map { _ -> [UInt8] in
      var request = checkout
      let lines = (0..<(1 + Int(generator.next() % 5))).map { _ in
        CommerceV1.CheckoutLine.with {
          $0.productId = SampleMessages.identifier(generator.next())
          $0.quantity = Int32(1 + generator.next() % 4)
        }
      }
      request.itemsSource = .lines(.with { $0.lines = lines })
      request.shippingAddress?.postalCode = String(10_000 + generator.next() % 89_999)
      request.shippingAddress?.phoneNumber = "+49\(30_000_000 + generator.next() % 9_999_999)"
      request.expectedTotal?.amountMinor = Int64(500 + generator.next() % 50_000)
      request.idempotencyKey = SampleMessages.identifier(generator.next())
      return try encoded(request)
    }
    return [
      ("EchoResponse, 100 B text payload", try echoResponses(payload: 100)),
      ("EchoResponse, 4 KiB text payload", try echoResponses(payload: 4_096)),
      ("SearchProductsResponse, 20 products", searches),
      ("CheckoutRequest, 1-5 lines", checkouts),
    ]
  }

  // MARK: Measuring

  static func measure(name: String, messages: [[UInt8]], level: Int32) throws -> Row {
    let plain = messages.reduce(0) { $0 + $1.count }
    var streamingBytes = 0
    var perMessageBytes = 0
    var times: [[UInt64]] = [[], [], [], []]
    for _ in 0..<5 {
      let (streamed, streamingCompress) = try timed { try compressStreaming(messages, level: level) }
      let (framed, perMessageCompress) = try timed { try compressPerMessage(messages, level: level) }
      let (_, streamingDecompress) = try timed { try decompressStreaming(streamed, expecting: messages) }
      let (_, perMessageDecompress) = try timed { try decompressPerMessage(framed, expecting: messages) }
      streamingBytes = streamed.reduce(0) { $0 + $1.count }
      perMessageBytes = framed.reduce(0) { $0 + $1.count }
      for (index, time) in [streamingCompress, perMessageCompress, streamingDecompress, perMessageDecompress].enumerated() {
        times[index].append(time)
      }
    }
    func micros(_ samples: [UInt64]) -> Double { Double(samples.sorted()[samples.count / 2]) / 1_000 / Double(messages.count) }
    return Row(
      name: name, messages: messages.count, plainBytes: plain, streamingBytes: streamingBytes,
      perMessageBytes: perMessageBytes, streamingCompressMicros: micros(times[0]),
      perMessageCompressMicros: micros(times[1]), streamingDecompressMicros: micros(times[2]),
      perMessageDecompressMicros: micros(times[3]))
  }

  private static func timed<T>(_ body: () throws -> T) throws -> (T, UInt64) {
    let start = threadCPUNanoseconds()
    let result = try body()
    return (result, threadCPUNanoseconds() - start)
  }

  static func check(_ code: Int, _ what: String) throws {
    if ZSTD_isError(code) != 0 { throw Failure(description: "\(what): \(String(cString: ZSTD_getErrorName(code)))") }
  }

  /// One stream, flushed after every message; returns each message's flushed output.
  static func compressStreaming(_ messages: [[UInt8]], windowLog: Int32 = windowLog, level: Int32 = level) throws -> [[UInt8]] {
    let context = try makeStreamingCompressor(windowLog: windowLog, level: level)
    defer { ZSTD_freeCCtx(context) }
    var output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
    return try messages.map { try compressAndFlush($0, with: context, output: &output) }
  }

  /// A compressor with the protocol's parameters: `level` (1 by default), `windowLog`, no
  /// checksum, no content size (as Emporium's `ZstdStreamCompressor`). The caller frees it.
  static func makeStreamingCompressor(windowLog: Int32, level: Int32 = level) throws -> OpaquePointer {
    guard let context = ZSTD_createCCtx() else { throw Failure(description: "ZSTD_createCCtx") }
    do {
      try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "level")
      try check(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, windowLog), "windowLog")
      try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0), "checksum")
      try check(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0), "content size")
    } catch {
      ZSTD_freeCCtx(context)
      throw error
    }
    return context
  }

  /// Compresses `message` into the stream and flushes it; returns what the flush produced.
  /// `output` is scratch space of `ZSTD_CStreamOutSize()` bytes.
  static func compressAndFlush(
    _ message: [UInt8], with context: OpaquePointer, output: inout [UInt8]
  ) throws -> [UInt8] {
    var chunk: [UInt8] = []
    try message.withUnsafeBytes { source in
      var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
      while true {
        let remaining = try output.withUnsafeMutableBytes { target -> Int in
          var out = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
          let remaining = ZSTD_compressStream2(context, &out, &input, ZSTD_e_flush)
          try check(remaining, "ZSTD_compressStream2")
          chunk += target[..<out.pos]
          return remaining
        }
        if remaining == 0 && input.pos == input.size { break }
      }
    }
    return chunk
  }

  /// Every message its own frame.
  static func compressPerMessage(_ messages: [[UInt8]], level: Int32) throws -> [[UInt8]] {
    guard let context = ZSTD_createCCtx() else { throw Failure(description: "ZSTD_createCCtx") }
    defer { ZSTD_freeCCtx(context) }
    var output = [UInt8](repeating: 0, count: ZSTD_compressBound(messages.map(\.count).max() ?? 0))
    return try messages.map { message in
      let size = try output.withUnsafeMutableBytes { target in
        try message.withUnsafeBytes { source in
          let size = ZSTD_compressCCtx(context, target.baseAddress, target.count, source.baseAddress, source.count, level)
          try check(size, "ZSTD_compressCCtx")
          return size
        }
      }
      return Array(output[..<size])
    }
  }

  static func decompressStreaming(_ chunks: [[UInt8]], expecting messages: [[UInt8]]) throws {
    guard let context = ZSTD_createDCtx() else { throw Failure(description: "ZSTD_createDCtx") }
    defer { ZSTD_freeDCtx(context) }
    var output = [UInt8](repeating: 0, count: (messages.map(\.count).max() ?? 0) + 1)
    for (chunk, message) in zip(chunks, messages) {
      let produced = try output.withUnsafeMutableBytes { target in
        try chunk.withUnsafeBytes { source in
          var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
          var out = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
          while input.pos < input.size {
            try check(ZSTD_decompressStream(context, &out, &input), "ZSTD_decompressStream")
          }
          return out.pos
        }
      }
      guard produced == message.count, output[..<produced].elementsEqual(message) else {
        throw Failure(description: "streaming round trip differs")
      }
    }
  }

  static func decompressPerMessage(_ frames: [[UInt8]], expecting messages: [[UInt8]]) throws {
    guard let context = ZSTD_createDCtx() else { throw Failure(description: "ZSTD_createDCtx") }
    defer { ZSTD_freeDCtx(context) }
    var output = [UInt8](repeating: 0, count: (messages.map(\.count).max() ?? 0) + 1)
    for (frame, message) in zip(frames, messages) {
      let produced = try output.withUnsafeMutableBytes { target in
        try frame.withUnsafeBytes { source in
          let size = ZSTD_decompressDCtx(context, target.baseAddress, target.count, source.baseAddress, source.count)
          try check(size, "ZSTD_decompressDCtx")
          return size
        }
      }
      guard produced == message.count, output[..<produced].elementsEqual(message) else {
        throw Failure(description: "per-message round trip differs")
      }
    }
  }
}
