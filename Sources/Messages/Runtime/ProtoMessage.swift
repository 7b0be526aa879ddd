public import NIOCore

/// A protobuf message: a Swift value type generated from proto/ whose encoding and decoding go
/// through protobuf-c's pack and unpack.
///
/// Values are plain structs: copying one copies its fields; there is no shared storage to
/// mutate. Decoding is bounded by ``ProtoDecodingLimits``: the input size, the nesting depth and
/// the memory protobuf-c may allocate are all checked, so hostile input gets a ``ProtoError``,
/// never a crash or an unbounded allocation.
public protocol ProtoMessage: Sendable, Hashable {
  /// A message with every field at its default value.
  init()

  /// The fully qualified proto name, for example `emporium.commerce.v1.Product`.
  static var protoMessageName: String { get }

  /// Appends the message's wire encoding to `buffer`.
  ///
  /// - Throws: ``ProtoError`` with code `.stringContainsNUL` for a string field holding U+0000,
  ///   which protobuf-c cannot represent; nothing is appended then.
  func encode(into buffer: inout ByteBuffer) throws(ProtoError)

  /// Decodes a message from all readable bytes of `buffer`.
  ///
  /// - Throws: ``ProtoError`` for input that is too large, too deeply nested, would make the
  ///   decoder allocate past its budget, or is not a valid encoding of this message.
  init(decoding buffer: ByteBuffer, limits: ProtoDecodingLimits) throws(ProtoError)
}

extension ProtoMessage {
  /// Decodes with the default limits.
  public init(decoding buffer: ByteBuffer) throws(ProtoError) {
    try self.init(decoding: buffer, limits: .default)
  }

  /// Decodes from a byte array.
  public init(serializedBytes bytes: [UInt8], limits: ProtoDecodingLimits = .default) throws(ProtoError) {
    try self.init(decoding: ByteBuffer(bytes: bytes), limits: limits)
  }

  /// The wire encoding as a byte array.
  public func serializedBytes() throws(ProtoError) -> [UInt8] {
    var buffer = ByteBuffer()
    try encode(into: &buffer)
    return buffer.readBytes(length: buffer.readableBytes) ?? []
  }

  /// A message built by mutating a default value: `Product.with { $0.title = "Lamp" }`.
  public static func with(_ configure: (inout Self) throws -> Void) rethrows -> Self {
    var message = Self()
    try configure(&message)
    return message
  }
}

/// A generated proto enum. Proto3 enums are open: numbers unknown to this version of the schema
/// decode as `unrecognized(n)` and encode back unchanged.
public protocol ProtoEnum: Sendable, Hashable, CaseIterable where AllCases == [Self] {
  /// The case for a wire number; unknown numbers become `unrecognized`.
  init(rawValue: Int32)
  /// The wire number.
  var rawValue: Int32 { get }
  /// The proto name of each known number, for example `[1: "ORDER_STATUS_PAID"]`.
  static var protoValueNames: [Int32: String] { get }
}
