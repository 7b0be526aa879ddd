public import Foundation

extension PostgresDecodable where Self: FixedWidthInteger {
  /// Reads `int2`, `int4` or `int8` (and `oid`) and narrows it to `Self`, range-checked.
  static func decodeInteger(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Self
  {
    var reader = BinaryReader(bytes)
    let wide: Int64
    switch type {
    case .int2 where bytes.count == 2: wide = Int64(try reader.read(Int16.self))
    case .int4 where bytes.count == 4: wide = Int64(try reader.read(Int32.self))
    case .int8 where bytes.count == 8: wide = try reader.read(Int64.self)
    case .oidType where bytes.count == 4: wide = Int64(try reader.read(UInt32.self))
    case .int2, .int4, .int8, .oidType:
      throw PostgresError.client(.malformedValue, "has \(bytes.count) bytes for \(type)")
    default:
      throw Self.mismatch(type)
    }
    guard let value = Self(exactly: wide) else {
      throw PostgresError.client(.malformedValue, "holds a \(type) value out of range for \(Self.self)")
    }
    return value
  }
}

extension Int64: PostgresArrayDecodable {
  /// From `int2`, `int4`, `int8` or `oid`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Int64
  { try Self.decodeInteger(from: bytes, type: type) }
}

extension Int: PostgresArrayDecodable {
  /// From `int2`, `int4`, `int8` or `oid`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Int
  { try Self.decodeInteger(from: bytes, type: type) }
}

extension Int32: PostgresArrayDecodable {
  /// From `int2` or `int4`, or `int8` when the value fits.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Int32
  { try Self.decodeInteger(from: bytes, type: type) }
}

extension Int16: PostgresArrayDecodable {
  /// From `int2`, or `int4`/`int8` when the value fits.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Int16
  { try Self.decodeInteger(from: bytes, type: type) }
}

extension UInt8: PostgresArrayDecodable {
  /// From an integer column when the value fits in 0...255.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> UInt8
  { try Self.decodeInteger(from: bytes, type: type) }

  /// `[UInt8]` is `bytea`: the bytes themselves.
  public static func decodeArray(from bytes: UnsafeRawBufferPointer, type: PostgresDataType)
    throws -> [UInt8]
  {
    guard type == .bytea else { throw [UInt8].mismatch(type) }
    return [UInt8](bytes)
  }
}

extension Bool: PostgresArrayDecodable {
  /// From `bool`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Bool
  {
    guard type == .bool else { throw Self.mismatch(type) }
    guard bytes.count == 1 else {
      throw PostgresError.client(.malformedValue, "has \(bytes.count) bytes for bool")
    }
    return bytes[0] != 0
  }
}

extension String: PostgresArrayDecodable {
  /// From the textual types (`text`, `varchar`, `bpchar`, `name`, `json`), `jsonb` (its text)
  /// and `numeric` (its decimal digits, exactly).
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> String
  {
    if type.isTextual {
      return String(decoding: bytes, as: UTF8.self)
    }
    switch type {
    case .jsonb:
      // Version byte 1, then the JSON text.
      guard bytes.first == 1 else {
        throw PostgresError.client(.malformedValue, "has an unknown jsonb version")
      }
      return String(decoding: UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), as: UTF8.self)
    case .numeric:
      return try NumericText.decode(bytes)
    default:
      throw Self.mismatch(type)
    }
  }
}

extension Double: PostgresArrayDecodable {
  /// From `float8`, `float4` or `numeric` (rounded to the nearest `Double`).
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Double
  {
    var reader = BinaryReader(bytes)
    switch type {
    case .float8 where bytes.count == 8:
      return Double(bitPattern: try reader.read(UInt64.self))
    case .float4 where bytes.count == 4:
      return Double(Float(bitPattern: try reader.read(UInt32.self)))
    case .numeric:
      let text = try NumericText.decode(bytes)
      guard let value = Double(text) else {
        throw PostgresError.client(.malformedValue, "is a numeric that Double cannot hold")
      }
      return value
    case .float8, .float4:
      throw PostgresError.client(.malformedValue, "has \(bytes.count) bytes for \(type)")
    default:
      throw Self.mismatch(type)
    }
  }
}

extension Float: PostgresArrayDecodable {
  /// From `float4`, or `float8`/`numeric` rounded to the nearest `Float`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Float
  {
    if type == .float4, bytes.count == 4 {
      var reader = BinaryReader(bytes)
      return Float(bitPattern: try reader.read(UInt32.self))
    }
    do {
      return Float(try Double.decode(from: bytes, type: type))
    } catch let error as PostgresError where error.code == .typeMismatch {
      throw Self.mismatch(type)
    }
  }
}

extension Date: PostgresArrayDecodable {
  /// From `timestamptz`, `timestamp` (taken as UTC) or `date` (midnight UTC); `infinity` is
  /// `distantFuture` and `-infinity` is `distantPast`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Date
  {
    var reader = BinaryReader(bytes)
    switch type {
    case .timestamptz where bytes.count == 8, .timestamp where bytes.count == 8:
      return PostgresTime.date(fromMicroseconds: try reader.read(Int64.self))
    case .date where bytes.count == 4:
      let days = try reader.read(Int32.self)
      if days == .max { return .distantFuture }
      if days == .min { return .distantPast }
      return Date(timeIntervalSince1970: PostgresTime.epochOffset + Double(days) * 86_400)
    case .timestamptz, .timestamp, .date:
      throw PostgresError.client(.malformedValue, "has \(bytes.count) bytes for \(type)")
    default:
      throw Self.mismatch(type)
    }
  }
}

extension UUID: PostgresArrayDecodable {
  /// From `uuid`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> UUID
  {
    guard type == .uuid else { throw Self.mismatch(type) }
    guard bytes.count == 16 else {
      throw PostgresError.client(.malformedValue, "has \(bytes.count) bytes for uuid")
    }
    return UUID(uuid: bytes.loadUnaligned(as: uuid_t.self))
  }
}

extension Data: PostgresDecodable {
  /// From `bytea`.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Data
  {
    guard type == .bytea else { throw Self.mismatch(type) }
    return Data(bytes)
  }
}
