public import Foundation

/// A seeded pseudo-random generator: xoshiro256** whose state comes from SplitMix64, so that the
/// same seed gives the same numbers on every run (integer arithmetic only; the floating-point
/// helpers use the platform's `log`, `exp` and `cos`, which give the same results on the same
/// platform).
///
/// Each entity of a data set draws from its own stream (`stream`, `index`), so product 41 is the
/// same whatever the number of products, and products can be made in any order.
public struct SeedRandom: RandomNumberGenerator, Sendable {
  private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

  /// The generator of entity `index` in stream `stream` of data set `seed`.
  public init(seed: UInt64, stream: UInt64 = 0, index: UInt64 = 0) {
    var mix = seed
    var state = Self.splitMix(&mix) ^ (stream &* 0xD1B5_4A32_D192_ED03)
    state = Self.splitMix(&state) ^ (index &* 0x8CB9_2BA7_2F3D_8DD7)
    s0 = Self.splitMix(&state)
    s1 = Self.splitMix(&state)
    s2 = Self.splitMix(&state)
    s3 = Self.splitMix(&state)
  }

  private static func splitMix(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  public mutating func next() -> UInt64 {
    let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = s3 << 45 | s3 >> 19
    return result
  }

  /// A number in 0..<bound (bound > 0), without modulo bias.
  public mutating func below(_ bound: Int) -> Int {
    Int(self.next(upperBound: UInt64(bound)))
  }

  /// A uniform double in [0, 1).
  public mutating func unit() -> Double {
    Double(self.next() >> 11) * 0x1.0p-53
  }

  /// True with probability `p`.
  public mutating func chance(_ p: Double) -> Bool { self.unit() < p }

  /// One element of a non-empty array.
  public mutating func pick<T>(_ elements: [T]) -> T { elements[self.below(elements.count)] }

  /// A standard normal deviate (Box–Muller).
  public mutating func normal() -> Double {
    let u1 = max(self.unit(), 0x1.0p-53)
    let u2 = self.unit()
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }

  /// A log-normal deviate with the given median and shape (sigma of the underlying normal): a
  /// long tail of high values.
  public mutating func logNormal(median: Double, sigma: Double) -> Double {
    median * exp(sigma * self.normal())
  }

  /// A version 4 UUID made of this generator's bits.
  public mutating func uuid() -> UUID {
    var bytes = [UInt8](repeating: 0, count: 16)
    let a = self.next()
    let b = self.next()
    for i in 0..<8 {
      bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i)))
      bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))
    }
    bytes[6] = bytes[6] & 0x0F | 0x40
    bytes[8] = bytes[8] & 0x3F | 0x80
    return UUID(
      uuid: (
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
        bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
      ))
  }
}
