/// A Swift type that a column value can be decoded into.
///
/// Results arrive in PostgreSQL's binary format. Decoding checks the column's type (by OID) and
/// throws ``PostgresError/Code/typeMismatch`` when the Swift type cannot hold it,
/// ``PostgresError/Code/unexpectedNull`` for a NULL asked for as a non-optional type, and
/// ``PostgresError/Code/malformedValue`` for bytes that do not fit (an `int8` too large for
/// `Int32`). ``PostgresRow`` adds the column's index and name to the message.
///
/// Built in: `Int`, `Int64`, `Int32`, `Int16` (from `int2`, `int4`, `int8`, range-checked),
/// `Bool`, `String` (from `text`, `varchar`, `bpchar`, `name`, `json`, `jsonb` and `numeric`),
/// `Double` and `Float` (from `float4`, `float8` and `numeric`), `Date` (from `timestamptz`,
/// `timestamp` read as UTC, and `date`), `UUID`, `[UInt8]` and `Data` (from `bytea`),
/// arrays of those (one-dimensional), and `Optional` of any of them (NULL is `nil`).
public protocol PostgresDecodable: Sendable {
  /// Decodes a non-NULL value of type `type` from its binary representation.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code/typeMismatch`` or
  ///   ``PostgresError/Code/malformedValue``.
  static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self

  /// The value for SQL NULL. The default throws ``PostgresError/Code/unexpectedNull``;
  /// `Optional` returns `nil`.
  static func decodeNull() throws -> Self
}

extension PostgresDecodable {
  /// Throws ``PostgresError/Code/unexpectedNull``: only optionals hold NULL.
  public static func decodeNull() throws -> Self {
    throw PostgresError.client(
      .unexpectedNull, "is NULL; decode as \(Self.self)? to accept NULL")
  }

  /// The error for a column of `type` that `Self` cannot hold.
  static func mismatch(_ type: PostgresDataType) -> PostgresError {
    PostgresError.client(.typeMismatch, "has type \(type), which cannot be decoded as \(Self.self)")
  }
}

/// A ``PostgresDecodable`` type that can also be an array element (`[Int64]` from `int8[]`).
public protocol PostgresArrayDecodable: PostgresDecodable {
  /// Decodes an array of `type`. The default reads PostgreSQL's one-dimensional array format and
  /// each element with ``PostgresDecodable/decode(from:type:)``; `UInt8` overrides it so that
  /// `[UInt8]` reads `bytea`.
  static func decodeArray(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> [Self]
}

extension PostgresArrayDecodable {
  /// Reads the array header (dimensions, null flag, element type), then each element.
  public static func decodeArray(from bytes: UnsafeRawBufferPointer, type: PostgresDataType)
    throws -> [Self]
  {
    var reader = BinaryReader(bytes)
    let dimensions = try reader.read(Int32.self)
    _ = try reader.read(Int32.self)  // has-nulls flag; each element says for itself
    let elementType = PostgresDataType(try reader.read(UInt32.self))
    if dimensions == 0 {
      return []
    }
    guard dimensions == 1 else {
      throw PostgresError.client(
        .typeMismatch,
        "is a \(dimensions)-dimensional array; only one-dimensional arrays decode as [\(Self.self)]"
      )
    }
    let count = try reader.read(Int32.self)
    _ = try reader.read(Int32.self)  // lower bound
    guard count >= 0 else {
      throw PostgresError.client(.malformedValue, "has a negative array length")
    }
    var elements: [Self] = []
    elements.reserveCapacity(Int(count))
    for _ in 0..<count {
      let length = try reader.read(Int32.self)
      if length < 0 {
        elements.append(try Self.decodeNull())
      } else {
        let element = try reader.readBytes(Int(length))
        elements.append(try Self.decode(from: element, type: elementType))
      }
    }
    return elements
  }
}

extension Array: PostgresDecodable where Element: PostgresArrayDecodable {
  /// Decodes through ``PostgresArrayDecodable/decodeArray(from:type:)``.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> [Element]
  {
    try Element.decodeArray(from: bytes, type: type)
  }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
  /// Decodes the wrapped type.
  public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws
    -> Wrapped?
  {
    try Wrapped.decode(from: bytes, type: type)
  }

  /// `nil`.
  public static func decodeNull() throws -> Wrapped? {
    nil
  }
}

extension Optional: PostgresArrayDecodable where Wrapped: PostgresArrayDecodable {}
