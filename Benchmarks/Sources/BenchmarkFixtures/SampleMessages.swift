/// Representative messages for benchmarks, with realistic sizes and values.
///
/// Every builder is deterministic (identifiers come from a fixed-seed generator, not from the
/// clock or the system's random source), so encoded sizes and therefore results stay comparable
/// from run to run and machine to machine.
public enum SampleMessages {
  /// A deterministic UUID-shaped identifier (version 4 layout, lower-case hex) for `seed`.
  ///
  /// The same seed always gives the same text; different seeds give different identifiers.
  public static func identifier(_ seed: UInt64) -> String {
    var generator = SplitMix64(seed: seed)
    let high = generator.next()
    let low = generator.next()
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(36)
    // 32 nibbles: version nibble 4 at index 12, variant nibble 8...b at index 16.
    for index in 0..<32 {
      var nibble = Int(((index < 16 ? high : low) >> UInt64(60 - 4 * (index % 16))) & 0xF)
      if index == 12 { nibble = 4 }
      if index == 16 { nibble = 8 | (nibble & 3) }
      if index == 8 || index == 12 || index == 16 || index == 20 { out.append(UInt8(ascii: "-")) }
      out.append(hex[nibble])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// `count` deterministic pseudo-random bytes for `seed`.
  public static func bytes(count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
  }
}

/// SplitMix64: a tiny, fast, well-mixed generator; deterministic for a given seed.
struct SplitMix64 {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
