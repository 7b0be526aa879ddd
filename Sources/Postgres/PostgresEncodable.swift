/// A Swift value that can be bound as a statement parameter.
///
/// Parameters always travel separately from the SQL text (the extended query protocol's Bind
/// message), in PostgreSQL's binary format, so a value can never change what a statement does:
/// injection is impossible by construction. There is no API that splices a value into SQL.
///
/// Built in: `Int` and `Int64` (`int8`), `Int32` (`int4`), `Int16` (`int2`), `Bool`, `String`
/// (`text`), `Double` (`float8`), `Float` (`float4`), `Date` (`timestamptz`), `UUID`,
/// `[UInt8]` and `Data` (`bytea`), arrays of those (`int8[]`, `text[]`, ... with NULL elements
/// for arrays of optionals), and `Optional` of any of them (`nil` is SQL NULL, typed as the
/// wrapped type). The parameter's type is part of the prepared statement: a statement is
/// prepared once per distinct list of parameter types. Cast in SQL where the server needs another
/// type (`$1::jsonb`).
///
/// To add a type, give its OID and its binary send format (see the type's `*send` function in
/// PostgreSQL's sources).
public protocol PostgresEncodable: Sendable {
  /// The type the server is told the parameter has.
  static var postgresType: PostgresDataType { get }

  /// Appends the value in PostgreSQL's binary format. Not called when ``isPostgresNull`` is true.
  func encode(into buffer: inout [UInt8])

  /// True when the value is SQL NULL; only `Optional.none` says so.
  var isPostgresNull: Bool { get }
}

extension PostgresEncodable {
  /// False: only `Optional.none` is NULL.
  public var isPostgresNull: Bool { false }
}

/// A ``PostgresEncodable`` type that can also be an array element (`Int64` makes `[Int64]` an
/// `int8[]` parameter).
public protocol PostgresArrayEncodable: PostgresEncodable {
  /// The array type, such as `int8[]` for `Int64`.
  static var postgresArrayType: PostgresDataType { get }

  /// Appends `elements` as a one-dimensional array in binary format. The default writes
  /// PostgreSQL's array format; `UInt8` overrides it so that `[UInt8]` is `bytea`.
  static func encodeArray(_ elements: [Self], into buffer: inout [UInt8])
}

extension PostgresArrayEncodable {
  /// Writes a one-dimensional array with lower bound 1: dimensions, null flag, element type,
  /// then each element as a length (-1 for NULL) and its bytes.
  public static func encodeArray(_ elements: [Self], into buffer: inout [UInt8]) {
    let hasNulls = elements.contains { $0.isPostgresNull }
    buffer.appendInteger(Int32(elements.isEmpty ? 0 : 1))
    buffer.appendInteger(Int32(hasNulls ? 1 : 0))
    buffer.appendInteger(Self.postgresType.oid)
    if elements.isEmpty {
      return
    }
    buffer.appendInteger(Int32(elements.count))
    buffer.appendInteger(Int32(1))
    for element in elements {
      if element.isPostgresNull {
        buffer.appendInteger(Int32(-1))
        continue
      }
      let lengthOffset = buffer.count
      buffer.appendInteger(Int32(0))
      element.encode(into: &buffer)
      let length = Int32(buffer.count - lengthOffset - 4)
      buffer.replaceInteger(at: lengthOffset, with: length)
    }
  }
}

extension Array: PostgresEncodable where Element: PostgresArrayEncodable {
  /// The element's array type (`bytea` for `[UInt8]`).
  public static var postgresType: PostgresDataType { Element.postgresArrayType }

  /// Writes the array through ``PostgresArrayEncodable/encodeArray(_:into:)``.
  public func encode(into buffer: inout [UInt8]) {
    Element.encodeArray(self, into: &buffer)
  }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
  /// The wrapped type's: a NULL is typed like the value it stands for.
  public static var postgresType: PostgresDataType { Wrapped.postgresType }

  /// Writes the wrapped value; `nil` is never asked to encode (it is NULL).
  public func encode(into buffer: inout [UInt8]) {
    self?.encode(into: &buffer)
  }

  /// True for `nil`.
  public var isPostgresNull: Bool {
    switch self {
    case .none: true
    case .some(let wrapped): wrapped.isPostgresNull
    }
  }
}

extension Optional: PostgresArrayEncodable where Wrapped: PostgresArrayEncodable {
  /// The wrapped type's array type; `nil` elements are NULL.
  public static var postgresArrayType: PostgresDataType { Wrapped.postgresArrayType }
}

extension [UInt8] {
  /// Appends `value` in network byte order.
  mutating func appendInteger<Integer: FixedWidthInteger>(_ value: Integer) {
    Swift.withUnsafeBytes(of: value.bigEndian) { self.append(contentsOf: $0) }
  }

  /// Overwrites the four bytes at `offset` with `value` in network byte order.
  mutating func replaceInteger(at offset: Int, with value: Int32) {
    Swift.withUnsafeBytes(of: value.bigEndian) { bytes in
      for index in 0..<4 {
        self[offset + index] = bytes[index]
      }
    }
  }
}
