package import CProtobufC
package import NIOCore

/// Encoding and decoding through protobuf-c, shared by every generated message.
package enum ProtoCodec {
  /// Builds protoc-c's struct in an arena, sizes it and packs it straight into `buffer`.
  package static func encode<M: ProtobufCBacked>(_ message: M, into buffer: inout ByteBuffer) throws(ProtoError) {
    try ProtoArena.withArena(budget: .max) { arena throws(ProtoError) in
      let c = arena.allocate(M.CStruct.self)
      try message.store(into: c, arena: arena)
      let base = UnsafeMutableRawPointer(c).assumingMemoryBound(to: ProtobufCMessage.self)
      let size = protobuf_c_message_get_packed_size(base)
      guard size > 0 else { return }
      buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
        protobuf_c_message_pack(base, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
      }
    }
  }

  /// Decodes into `message`, which must hold a default value.
  package static func decode<M: ProtobufCBacked>(
    into message: inout M, from buffer: ByteBuffer, limits: ProtoDecodingLimits
  ) throws(ProtoError) {
    guard buffer.readableBytes <= limits.maxMessageSize else {
      throw ProtoError(
        code: .messageTooLarge,
        message: "\(M.protoMessageName) of \(buffer.readableBytes) bytes exceeds the limit of \(limits.maxMessageSize)")
    }
    var failure: ProtoError?
    buffer.withUnsafeReadableBytes { bytes in
      do throws(ProtoError) {
        try decode(into: &message, bytes: bytes, limits: limits)
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
  }

  package static func decode<M: ProtobufCBacked>(
    into message: inout M, bytes: UnsafeRawBufferPointer, limits: ProtoDecodingLimits
  ) throws(ProtoError) {
    if M.maxNestingDepth > limits.maxNestingDepth {
      try ProtoNestingCheck.verify(bytes, descriptor: M.protobufCDescriptor, limit: limits.maxNestingDepth)
    }
    let budget = limits.allocationBudget(forMessageSize: bytes.count)
    try ProtoArena.withArena(budget: budget) { arena throws(ProtoError) in
      var allocator = arena.protobufCAllocator
      var empty: UInt8 = 0
      let unpacked = withUnsafeMutablePointer(to: &empty) { emptyPointer in
        protobuf_c_message_unpack(
          M.protobufCDescriptor, &allocator, bytes.count,
          bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(emptyPointer))
      }
      guard let unpacked else {
        if arena.isExhausted {
          throw ProtoError(
            code: .allocationBudgetExceeded,
            message: "unpacking \(bytes.count) bytes of \(M.protoMessageName) needs more than its allocation budget of \(budget) bytes")
        }
        throw ProtoError(code: .malformed, message: "not a valid encoding of \(M.protoMessageName)")
      }
      try message.load(from: UnsafeRawPointer(unpacked).assumingMemoryBound(to: M.CStruct.self))
    }
  }
}
