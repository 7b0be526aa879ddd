import NIOCore
import RPC

/// Inputs and helpers shared by the zstd stream tests. Nested in one namespace so the names
/// cannot collide with other helpers in RPCTests.
enum ZstdTestSupport {
  /// A deterministic generator (SplitMix64): the same seed gives the same bytes on every run
  /// and platform, so a failure can be replayed.
  struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
      self.state = seed
    }

    mutating func next() -> UInt64 {
      self.state &+= 0x9E37_79B9_7F4A_7C15
      var z = self.state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
      (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }
  }

  /// A message that looks like RPC traffic: mostly repeated field names, a few varying values.
  static func message(_ index: Int, size: Int, using random: inout SeededRandom) -> [UInt8] {
    var text = ""
    while text.utf8.count < size {
      let quantity = Int.random(in: 1...9, using: &random)
      let price = Int.random(in: 100...99_999, using: &random)
      text += "{\"order\":\(index),\"sku\":\"SKU-\(index % 97)\",\"qty\":\(quantity),\"price\":\(price),\"currency\":\"EUR\"}"
    }
    return Array(text.utf8.prefix(size))
  }

  /// Pulls output until the decompressor reports that it needs more input, appending it to
  /// `decoded`. Fails the test if a call exceeds `maxOutputBytes`.
  static func drain(
    _ decompressor: inout ZstdStreamDecompressor,
    _ input: inout ByteBuffer,
    maxOutputBytes: Int,
    into decoded: inout [UInt8]
  ) throws(ZstdError) -> (calls: Int, largestOutput: Int) {
    var output = ByteBuffer()
    var calls = 0
    var largestOutput = 0
    var more = true
    while more {
      more = try decompressor.decompress(&input, into: &output, maxOutputBytes: maxOutputBytes)
      calls += 1
      largestOutput = max(largestOutput, output.readableBytes)
      decoded += output.readableBytesView
      output.clear()
    }
    return (calls, largestOutput)
  }

  /// The first index where `actual` and `expected` differ (including one ending early), or
  /// `nil` if they are equal. Keeps failure reports short where whole arrays would flood them.
  static func firstMismatch(_ actual: [UInt8], _ expected: [UInt8]) -> Int? {
    if actual == expected { return nil }
    if let index = (0..<min(actual.count, expected.count)).first(where: { actual[$0] != expected[$0] }) {
      return index
    }
    return actual.count == expected.count ? nil : min(actual.count, expected.count)
  }
}
