/// How a value is laid out on the wire.
enum WireType: UInt8, Hashable, Sendable {
  case varint = 0
  case fixed64 = 1
  case lengthDelimited = 2
  case startGroup = 3
  case endGroup = 4
  case fixed32 = 5
}
