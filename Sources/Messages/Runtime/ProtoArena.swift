package import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bump allocator for the C structs that protobuf-c packs from and unpacks into.
///
/// One arena serves one encode or decode call. Its first chunk lives on the caller's stack
/// (``withArena(budget:_:)``), so small messages cost no heap allocation at all on the C side;
/// larger ones add heap chunks that are freed together when the call returns. Individual frees
/// are no-ops. When decoding, the arena is also protobuf-c's `ProtobufCAllocator` and refuses
/// to hand out more than its byte budget, which is how hostile input that would inflate many
/// times over is stopped.
///
/// `ProtoArena` is a handle: copies refer to the same arena, which is valid only inside the
/// `withArena` closure that created it.
package struct ProtoArena {
  struct State {
    var cursor: UnsafeMutableRawPointer
    var remaining: Int
    var budget: Int
    /// Heap chunks, linked through their first word.
    var chunks: UnsafeMutableRawPointer?
    var nextChunkSize: Int
    var exhausted: Bool
  }

  let state: UnsafeMutablePointer<State>

  /// Bytes of the first chunk: this thread's scratch block when it is free (see
  /// ``ArenaScratch``), else a temporary allocation of the same size.
  static let firstChunkBytes = ArenaScratch.blockBytes
  private static let chunkHeader = 16
  private static let stateBytes = (MemoryLayout<State>.stride + 15) & ~15

  /// Runs `body` with a fresh arena that hands out at most `budget` bytes in all.
  static func withArena<R>(
    budget: Int, _ body: (ProtoArena) throws(ProtoError) -> R
  ) throws(ProtoError) -> R {
    if let scratch = ArenaScratch.take() {
      defer { ArenaScratch.giveBack(scratch) }
      return try run(in: scratch, bytes: ArenaScratch.blockBytes, budget: budget, body)
    }
    // Nested use on this thread (not something the codec does today): a temporary block.
    return try withUnsafeTemporaryAllocation(byteCount: firstChunkBytes, alignment: 16) {
      raw throws(ProtoError) -> R in
      try run(in: raw.baseAddress!, bytes: firstChunkBytes, budget: budget, body)
    }
  }

  private static func run<R>(
    in base: UnsafeMutableRawPointer, bytes: Int, budget: Int, _ body: (ProtoArena) throws(ProtoError) -> R
  ) throws(ProtoError) -> R {
    let state = base.bindMemory(to: State.self, capacity: 1)
    state.initialize(
      to: State(
        cursor: base + stateBytes, remaining: bytes - stateBytes, budget: budget, chunks: nil,
        nextChunkSize: 16 << 10, exhausted: false))
    defer {
      var chunk = state.pointee.chunks
      while let current = chunk {
        chunk = current.load(as: UnsafeMutableRawPointer?.self)
        current.deallocate()
      }
      state.deinitialize(count: 1)
    }
    return try body(ProtoArena(state: state))
  }

  /// Whether a request was refused because it would have gone past the budget.
  package var isExhausted: Bool { state.pointee.exhausted }

  /// `byteCount` bytes aligned to 8, or nil past the budget.
  @inline(__always)
  package func allocateRaw(_ byteCount: Int) -> UnsafeMutableRawPointer? {
    let size = (byteCount &+ 7) & ~7
    if size <= state.pointee.remaining, size <= state.pointee.budget {
      let pointer = state.pointee.cursor
      state.pointee.cursor += size
      state.pointee.remaining &-= size
      state.pointee.budget &-= size
      return pointer
    }
    return allocateSlow(size)
  }

  private func allocateSlow(_ size: Int) -> UnsafeMutableRawPointer? {
    guard size >= 0, size <= state.pointee.budget else {
      state.pointee.exhausted = true
      return nil
    }
    // Chunks grow geometrically but never far past what the budget still allows.
    let wanted = min(state.pointee.nextChunkSize, max(size, state.pointee.budget))
    let chunkSize = max(size, wanted) + Self.chunkHeader
    state.pointee.nextChunkSize = min(state.pointee.nextChunkSize * 2, 16 << 20)
    let chunk = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
    chunk.storeBytes(of: state.pointee.chunks, as: UnsafeMutableRawPointer?.self)
    state.pointee.chunks = chunk
    let pointer = chunk + Self.chunkHeader
    state.pointee.cursor = pointer + size
    state.pointee.remaining = chunkSize - Self.chunkHeader - size
    state.pointee.budget -= size
    return pointer
  }

  /// This arena as protobuf-c's allocator (for unpack). Frees are no-ops; everything goes when
  /// the arena does.
  package var protobufCAllocator: ProtobufCAllocator {
    ProtobufCAllocator(
      alloc: { data, size in
        ProtoArena(state: data!.assumingMemoryBound(to: State.self)).allocateRaw(size)
      },
      free: { _, _ in },
      allocator_data: UnsafeMutableRawPointer(state))
  }

  // MARK: Typed allocation for encoding (the encode arena has no budget, so these never fail).

  @inline(__always)
  package func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
    allocateRaw(MemoryLayout<T>.stride &* count)!.bindMemory(to: T.self, capacity: count)
  }

  package func pointers<T>(count: Int, to type: T.Type) -> UnsafeMutablePointer<UnsafeMutablePointer<T>?> {
    allocate(UnsafeMutablePointer<T>?.self, count: count)
  }

  /// A NUL-terminated copy of `value`.
  package func string(_ value: String) throws(ProtoError) -> UnsafeMutablePointer<CChar> {
    var value = value
    let copy: UnsafeMutablePointer<CChar>? = value.withUTF8 { utf8 in
      let count = utf8.count
      if count > 0, memchr(utf8.baseAddress!, 0, count) != nil { return nil }
      let pointer = allocateRaw(count + 1)!
      if count > 0 { pointer.copyMemory(from: utf8.baseAddress!, byteCount: count) }
      pointer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
      return pointer.assumingMemoryBound(to: CChar.self)
    }
    guard let copy else {
      throw ProtoError(
        code: .stringContainsNUL,
        message: "a string field contains U+0000, which protobuf-c strings cannot carry")
    }
    return copy
  }

  package func bytes(_ value: [UInt8]) -> ProtobufCBinaryData {
    guard !value.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
    let pointer = allocate(UInt8.self, count: value.count)
    value.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: $0.count) }
    return ProtobufCBinaryData(len: value.count, data: pointer)
  }

  package func copy<T: BitwiseCopyable>(_ values: [T]) -> UnsafeMutablePointer<T> {
    let pointer = allocate(T.self, count: values.count)
    values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: $0.count) }
    return pointer
  }

  package func bools(_ values: [Bool]) -> UnsafeMutablePointer<protobuf_c_boolean> {
    let pointer = allocate(protobuf_c_boolean.self, count: values.count)
    for (index, value) in values.enumerated() { pointer[index] = value ? 1 : 0 }
    return pointer
  }

  package func strings(_ values: [String]) throws(ProtoError) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
    let pointer = allocate(UnsafeMutablePointer<CChar>?.self, count: values.count)
    for (index, value) in values.enumerated() { pointer[index] = try string(value) }
    return pointer
  }

  package func byteArrays(_ values: [[UInt8]]) -> UnsafeMutablePointer<ProtobufCBinaryData> {
    let pointer = allocate(ProtobufCBinaryData.self, count: values.count)
    for (index, value) in values.enumerated() { pointer[index] = bytes(value) }
    return pointer
  }

  package func enums<E: ProtoEnum, C: RawRepresentable>(
    _ values: [E], as type: C.Type
  ) -> UnsafeMutablePointer<C> where C.RawValue: FixedWidthInteger {
    let pointer = allocate(C.self, count: values.count)
    for (index, value) in values.enumerated() {
      (pointer + index).initialize(to: C(rawValue: C.RawValue(truncatingIfNeeded: value.rawValue))!)
    }
    return pointer
  }

  package func message<M: ProtobufCBacked>(_ value: M) throws(ProtoError) -> UnsafeMutablePointer<M.CStruct> {
    let pointer = allocate(M.CStruct.self)
    try value.store(into: pointer, arena: self)
    return pointer
  }

  package func messages<M: ProtobufCBacked>(
    _ values: [M]
  ) throws(ProtoError) -> UnsafeMutablePointer<UnsafeMutablePointer<M.CStruct>?> {
    let pointers = allocate(UnsafeMutablePointer<M.CStruct>?.self, count: values.count)
    let structs = allocate(M.CStruct.self, count: values.count)
    for (index, value) in values.enumerated() {
      try value.store(into: structs + index, arena: self)
      pointers[index] = structs + index
    }
    return pointers
  }

  package func storeUnknownFields(_ unknown: ProtoUnknownFields, into base: inout ProtobufCMessage) {
    guard !unknown.fields.isEmpty else { return }
    let pointer = allocate(ProtobufCMessageUnknownField.self, count: unknown.fields.count)
    for (index, field) in unknown.fields.enumerated() {
      let data = bytes(field.data)
      pointer[index] = ProtobufCMessageUnknownField(
        tag: field.number, wire_type: ProtobufCWireType(rawValue: UInt32(field.wireType)),
        len: data.len, data: data.data)
    }
    base.n_unknown_fields = UInt32(unknown.fields.count)
    base.unknown_fields = pointer
  }
}
