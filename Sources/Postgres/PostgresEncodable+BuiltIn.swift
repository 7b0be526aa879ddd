public import Foundation

// Binary send formats: integers and floats in network byte order, bool as one byte, text as its
// UTF-8 bytes, timestamptz as microseconds since 2000-01-01 00:00:00 UTC, uuid as its 16 bytes,
// bytea as the bytes themselves.

extension Int64: PostgresArrayEncodable {
  /// `int8`.
  public static var postgresType: PostgresDataType { .int8 }
  /// `int8[]`.
  public static var postgresArrayType: PostgresDataType { .int8Array }
  /// Eight bytes, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(self) }
}

extension Int: PostgresArrayEncodable {
  /// `int8` (`Int` is 64 bits on every platform this runs on).
  public static var postgresType: PostgresDataType { .int8 }
  /// `int8[]`.
  public static var postgresArrayType: PostgresDataType { .int8Array }
  /// Eight bytes, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(Int64(self)) }
}

extension Int32: PostgresArrayEncodable {
  /// `int4`.
  public static var postgresType: PostgresDataType { .int4 }
  /// `int4[]`.
  public static var postgresArrayType: PostgresDataType { .int4Array }
  /// Four bytes, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(self) }
}

extension Int16: PostgresArrayEncodable {
  /// `int2`.
  public static var postgresType: PostgresDataType { .int2 }
  /// `int2[]`.
  public static var postgresArrayType: PostgresDataType { .int2Array }
  /// Two bytes, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(self) }
}

extension UInt8: PostgresArrayEncodable {
  /// `int2` on its own; as the element of `[UInt8]` it makes `bytea`.
  public static var postgresType: PostgresDataType { .int2 }
  /// `bytea`: `[UInt8]` is binary data, not an array of numbers.
  public static var postgresArrayType: PostgresDataType { .bytea }
  /// Two bytes, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(Int16(self)) }
  /// The bytes themselves (`bytea`).
  public static func encodeArray(_ elements: [UInt8], into buffer: inout [UInt8]) {
    buffer.append(contentsOf: elements)
  }
}

extension Bool: PostgresArrayEncodable {
  /// `bool`.
  public static var postgresType: PostgresDataType { .bool }
  /// `bool[]`.
  public static var postgresArrayType: PostgresDataType { .boolArray }
  /// One byte, 1 or 0.
  public func encode(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
}

extension String: PostgresArrayEncodable {
  /// `text`.
  public static var postgresType: PostgresDataType { .text }
  /// `text[]`.
  public static var postgresArrayType: PostgresDataType { .textArray }
  /// The UTF-8 bytes.
  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self.utf8) }
}

extension Double: PostgresArrayEncodable {
  /// `float8`.
  public static var postgresType: PostgresDataType { .float8 }
  /// `float8[]`.
  public static var postgresArrayType: PostgresDataType { .float8Array }
  /// The IEEE 754 bits, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(self.bitPattern) }
}

extension Float: PostgresArrayEncodable {
  /// `float4`.
  public static var postgresType: PostgresDataType { .float4 }
  /// `float4[]`.
  public static var postgresArrayType: PostgresDataType { .float4Array }
  /// The IEEE 754 bits, network order.
  public func encode(into buffer: inout [UInt8]) { buffer.appendInteger(self.bitPattern) }
}

extension Date: PostgresArrayEncodable {
  /// `timestamptz`.
  public static var postgresType: PostgresDataType { .timestamptz }
  /// `timestamptz[]`.
  public static var postgresArrayType: PostgresDataType { .timestamptzArray }
  /// Microseconds since 2000-01-01 00:00:00 UTC, rounded to the nearest microsecond;
  /// `distantFuture` and `distantPast` are `infinity` and `-infinity`.
  public func encode(into buffer: inout [UInt8]) {
    buffer.appendInteger(PostgresTime.microseconds(from: self))
  }
}

extension UUID: PostgresArrayEncodable {
  /// `uuid`.
  public static var postgresType: PostgresDataType { .uuid }
  /// `uuid[]`.
  public static var postgresArrayType: PostgresDataType { .uuidArray }
  /// The 16 bytes.
  public func encode(into buffer: inout [UInt8]) {
    withUnsafeBytes(of: self.uuid) { buffer.append(contentsOf: $0) }
  }
}

extension Data: PostgresEncodable {
  /// `bytea`.
  public static var postgresType: PostgresDataType { .bytea }
  /// The bytes themselves.
  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}
