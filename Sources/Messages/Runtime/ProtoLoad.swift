package import CProtobufC

/// Conversions from an unpacked protoc-c struct's fields to Swift values, used by generated code.
package enum ProtoLoad {
  package static func string(_ pointer: UnsafePointer<CChar>?) throws(ProtoError) -> String {
    guard let pointer, pointer.pointee != 0 else { return "" }
    guard let value = String(validatingCString: pointer) else {
      throw ProtoError(code: .invalidUTF8, message: "a string field is not valid UTF-8")
    }
    return value
  }

  package static func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
    guard data.len > 0, let pointer = data.data else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: data.len))
  }

  package static func array<T>(_ count: Int, _ pointer: UnsafeMutablePointer<T>?) -> [T] {
    guard count > 0, let pointer else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
  }

  package static func bools(_ count: Int, _ pointer: UnsafeMutablePointer<protobuf_c_boolean>?) -> [Bool] {
    guard count > 0, let pointer else { return [] }
    return UnsafeBufferPointer(start: pointer, count: count).map { $0 != 0 }
  }

  package static func strings(
    _ count: Int, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
  ) throws(ProtoError) -> [String] {
    guard count > 0, let pointer else { return [] }
    var values: [String] = []
    values.reserveCapacity(count)
    for index in 0..<count { values.append(try string(pointer[index])) }
    return values
  }

  package static func byteArrays(_ count: Int, _ pointer: UnsafeMutablePointer<ProtobufCBinaryData>?) -> [[UInt8]] {
    guard count > 0, let pointer else { return [] }
    return UnsafeBufferPointer(start: pointer, count: count).map { bytes($0) }
  }

  package static func enums<E: ProtoEnum, C: RawRepresentable>(
    _ count: Int, _ pointer: UnsafeMutablePointer<C>?
  ) -> [E] where C.RawValue: BinaryInteger {
    guard count > 0, let pointer else { return [] }
    return UnsafeBufferPointer(start: pointer, count: count).map {
      E(rawValue: Int32(truncatingIfNeeded: $0.rawValue))
    }
  }

  package static func messages<M: ProtobufCBacked>(
    _ count: Int, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<M.CStruct>?>?
  ) throws(ProtoError) -> [M] {
    guard count > 0, let pointer else { return [] }
    var values: [M] = []
    values.reserveCapacity(count)
    for index in 0..<count { values.append(try messageOrDefault(pointer[index])) }
    return values
  }

  package static func messageOrDefault<M: ProtobufCBacked>(_ pointer: UnsafeMutablePointer<M.CStruct>?) throws(ProtoError) -> M {
    guard let pointer else { return M() }
    return try M(loading: pointer)
  }
}
