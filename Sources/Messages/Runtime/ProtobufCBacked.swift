package import CProtobufC

/// What generated code adds to a message so ``ProtoCodec`` can move it through protoc-c's struct
/// (internal: the C types never appear in the module's public API).
package protocol ProtobufCBacked: ProtoMessage {
  /// protoc-c's struct for this message.
  associatedtype CStruct

  /// protoc-c's descriptor for this message.
  static var protobufCDescriptor: UnsafePointer<ProtobufCMessageDescriptor> { get }

  /// The deepest nesting the schema allows, or `Int.max` for types that can contain themselves;
  /// decoding checks depth on the wire only when this exceeds the limit.
  static var maxNestingDepth: Int { get }

  /// Initializes `c` (uninitialized arena memory) to mirror this value; every pointer stored
  /// points into `arena`.
  func store(into c: UnsafeMutablePointer<CStruct>, arena: ProtoArena) throws(ProtoError)

  /// Sets the fields present in an unpacked struct on a default-initialized value (decoding
  /// fills the caller's value in place rather than copying a finished one out).
  mutating func load(from c: UnsafePointer<CStruct>) throws(ProtoError)
}

extension ProtobufCBacked {
  /// A value loaded from an unpacked struct.
  package init(loading c: UnsafePointer<CStruct>) throws(ProtoError) {
    self.init()
    try load(from: c)
  }
}
