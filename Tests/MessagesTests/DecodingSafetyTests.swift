import Messages
import NIOCore
import Testing

/// Hostile input: every case must end in a ProtoError, never a crash, a hang or an unbounded
/// allocation.
@Suite("Decoding hostile input")
struct DecodingSafetyTests {
  /// A Node nested `depth` levels through field `field` (2 = child, 3 = children, 4 = linked),
  /// built from the inside out without recursion.
  static func nestedNode(depth: Int, field: UInt8 = 2) -> [UInt8] {
    var reversed: [UInt8] = []  // the encoding, back to front
    for _ in 1..<depth {
      let length = reversed.count
      reversed.append(contentsOf: varint(UInt64(length)).reversed())
      reversed.append(field << 3 | 2)
    }
    return reversed.reversed()
  }

  static func varint(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    while value >= 0x80 {
      bytes.append(UInt8(value & 0x7F) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
    return bytes
  }

  private func code<M: ProtoMessage>(
    decoding bytes: [UInt8], as type: M.Type, limits: ProtoDecodingLimits = .default
  ) -> ProtoError.Code? {
    do {
      _ = try M(serializedBytes: bytes, limits: limits)
      return nil
    } catch {
      return error.code
    }
  }

  @Test("nesting at the limit decodes; one level more is refused", arguments: [UInt8(2), 3, 4])
  func depthLimit(field: UInt8) throws {
    let limit = ProtoDecodingLimits.default.maxNestingDepth
    let atLimit = try TestingV1.Node(serializedBytes: Self.nestedNode(depth: limit, field: field))
    var depth = 1
    var node = atLimit
    while let next = node.child ?? node.children.first ?? { if case .linked(let n)? = node.link { n } else { nil } }() {
      node = next
      depth += 1
    }
    #expect(depth == limit)
    #expect(code(decoding: Self.nestedNode(depth: limit + 1, field: field), as: TestingV1.Node.self) == .nestingTooDeep)
  }

  @Test("very deep nesting (far past what overflows protobuf-c's stack) is refused")
  func deepNesting() {
    let bytes = Self.nestedNode(depth: 200_000)
    #expect(bytes.count > 500_000)
    #expect(code(decoding: bytes, as: TestingV1.Node.self) == .nestingTooDeep)
  }

  @Test("the depth limit is configurable")
  func configurableDepth() {
    let limits = ProtoDecodingLimits(maxNestingDepth: 10)
    #expect(code(decoding: Self.nestedNode(depth: 10), as: TestingV1.Node.self, limits: limits) == nil)
    #expect(code(decoding: Self.nestedNode(depth: 11), as: TestingV1.Node.self, limits: limits) == .nestingTooDeep)
  }

  @Test("repeated empty sub-messages that inflate past the allocation budget are refused")
  func allocationAmplification() throws {
    // 200,000 empty `Wide` elements: 2 bytes each on the wire, ~170 bytes each once unpacked.
    let bytes = [UInt8]([0x0A, 0x00].repeated(200_000))
    let limits = ProtoDecodingLimits.default
    #expect(code(decoding: bytes, as: TestingV1.Wide.self, limits: limits) == .allocationBudgetExceeded)
    // The same bytes decode when the budget allows it: the budget, not the bytes, said no.
    let generous = ProtoDecodingLimits(allocationPerInputByte: 200, maxAllocation: 1 << 30)
    let decoded = try TestingV1.Wide(serializedBytes: bytes, limits: generous)
    #expect(decoded.elements.count == 200_000)
  }

  @Test("messages larger than the size limit are refused before decoding")
  func sizeLimit() {
    let bytes = try! TestingV1.Item.with { $0.name = String(repeating: "x", count: 2000) }.serializedBytes()
    let limits = ProtoDecodingLimits(maxMessageSize: 1024)
    #expect(code(decoding: bytes, as: TestingV1.Item.self, limits: limits) == .messageTooLarge)
    #expect(code(decoding: bytes, as: TestingV1.Item.self) == nil)
  }

  @Test("every truncation of a valid message is either a shorter valid message or an error")
  func truncations() throws {
    let full = try TestingV1.AllTypes.with {
      $0.fString = "hello"
      $0.rItem = [.with { $0.name = "a" }]
      $0.mStringInt64 = ["k": 1]
      $0.fInt64 = -5
    }.serializedBytes()
    var refused = 0
    for length in 0..<full.count {
      if code(decoding: Array(full[..<length]), as: TestingV1.AllTypes.self) != nil { refused += 1 }
    }
    // Cuts inside a field (most of them) must be refused.
    #expect(refused > full.count / 2)
  }

  @Test("random bytes and random mutations of valid messages never crash the decoder")
  func randomInput() throws {
    var rng = SplitMix64(seed: 0x5EED)
    let valid = try TestingV1.AllTypes.with {
      $0.fString = "valid"
      $0.rItem = [.with { $0.values = [1, 2, 3] }]
      $0.mInt32Item = [1: .with { $0.name = "v" }]
      $0.choice = .oText("t")
    }.serializedBytes()
    var outcomes: [String: Int] = [:]
    for round in 0..<20_000 {
      var bytes: [UInt8]
      if round.isMultiple(of: 2) {
        bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      } else {
        bytes = valid
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
          bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        }
      }
      let results = [
        code(decoding: bytes, as: TestingV1.AllTypes.self),
        code(decoding: bytes, as: TestingV1.Node.self),
        code(decoding: bytes, as: TestingV1.Wide.self),
      ]
      for result in results { outcomes[result.map { "\($0)" } ?? "ok", default: 0] += 1 }
    }
    // Both outcomes occur: the fuzzing reaches the decoder's error paths and its success path.
    #expect(outcomes["malformed", default: 0] > 1000)
    #expect(outcomes["ok", default: 0] > 100)
  }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
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

extension Array {
  fileprivate func repeated(_ times: Int) -> [Element] {
    var result: [Element] = []
    result.reserveCapacity(count * times)
    for _ in 0..<times { result.append(contentsOf: self) }
    return result
  }
}
