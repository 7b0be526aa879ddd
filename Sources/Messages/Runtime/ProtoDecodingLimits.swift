/// Bounds on what decoding one message may cost. Every limit is checked before protobuf-c
/// allocates or recurses.
///
/// protobuf-c 1.4.1 unpacks recursively with no depth limit (about 30 KB of nested messages
/// overflows the stack) and allocates its structs as it parses, which for repeated empty
/// sub-messages can reach dozens of times the input size. The bindings therefore check nesting
/// depth before unpacking (for message types whose schema allows unbounded nesting) and hand
/// protobuf-c an arena allocator that refuses to go past ``allocationBudget(forMessageSize:)``.
public struct ProtoDecodingLimits: Hashable, Sendable {
  /// The largest encoded message accepted, in bytes. Default 4 MiB.
  public var maxMessageSize: Int
  /// The deepest nesting of messages accepted; the outermost message is depth 1. Default 100.
  public var maxNestingDepth: Int
  /// Bytes protobuf-c may always allocate, whatever the input size. Default 64 KiB.
  public var allocationBase: Int
  /// Further bytes protobuf-c may allocate per input byte. Default 16.
  public var allocationPerInputByte: Int
  /// The most protobuf-c may allocate for one message. Default 64 MiB.
  public var maxAllocation: Int

  public init(
    maxMessageSize: Int = 4 << 20,
    maxNestingDepth: Int = 100,
    allocationBase: Int = 64 << 10,
    allocationPerInputByte: Int = 16,
    maxAllocation: Int = 64 << 20
  ) {
    self.maxMessageSize = maxMessageSize
    self.maxNestingDepth = maxNestingDepth
    self.allocationBase = allocationBase
    self.allocationPerInputByte = allocationPerInputByte
    self.maxAllocation = maxAllocation
  }

  /// The defaults described on each property.
  public static let `default` = ProtoDecodingLimits()

  /// How many bytes protobuf-c may allocate to unpack a message of `size` encoded bytes.
  public func allocationBudget(forMessageSize size: Int) -> Int {
    let (scaled, overflow) = size.multipliedReportingOverflow(by: allocationPerInputByte)
    if overflow { return maxAllocation }
    return min(maxAllocation, allocationBase &+ scaled)
  }
}
