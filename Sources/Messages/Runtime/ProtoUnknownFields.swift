package import CProtobufC

/// Fields of an encoded message that the schema compiled into this program does not know.
///
/// Decoding keeps them (protobuf-c collects them per message level) and encoding writes them
/// back after the known fields, so a message passed through a service built from older protos
/// loses nothing. Their order among themselves is kept; their position relative to known
/// fields is not.
public struct ProtoUnknownFields: Hashable, Sendable {
  /// One unknown field as it appeared on the wire.
  public struct Field: Hashable, Sendable {
    /// The field number.
    public var number: UInt32
    /// The wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
    public var wireType: UInt8
    /// Everything after the tag exactly as on the wire: the varint's bytes, the 4 or 8
    /// fixed-width bytes, or, for length-delimited fields, the length varint followed by the
    /// content (this is how protobuf-c stores them, and what encoding writes back).
    public var data: [UInt8]

    public init(number: UInt32, wireType: UInt8, data: [UInt8]) {
      self.number = number
      self.wireType = wireType
      self.data = data
    }
  }

  /// The unknown fields in wire order.
  public var fields: [Field] = []

  /// True when every field was known.
  public var isEmpty: Bool { fields.isEmpty }

  public init() {}

  package init(_ base: ProtobufCMessage) {
    guard base.n_unknown_fields > 0, let unknown = base.unknown_fields else { return }
    fields = UnsafeBufferPointer(start: unknown, count: Int(base.n_unknown_fields)).map {
      Field(
        number: $0.tag, wireType: UInt8(truncatingIfNeeded: $0.wire_type.rawValue),
        data: $0.len > 0 ? Array(UnsafeBufferPointer(start: $0.data, count: $0.len)) : [])
    }
  }
}
