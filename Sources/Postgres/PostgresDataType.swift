/// A PostgreSQL data type, identified by its OID (the `oid` column of `pg_type`).
///
/// The constants cover the built-in types the driver encodes and decodes; any other OID can be
/// wrapped with ``init(_:)`` and appears in error messages by number.
public struct PostgresDataType: Hashable, Sendable, CustomStringConvertible {
  /// The type's OID.
  public var oid: UInt32

  /// Wraps an OID.
  public init(_ oid: UInt32) {
    self.oid = oid
  }

  /// The `bool` type (OID 16).
  public static let bool = Self(16)
  /// The `bytea` type (OID 17).
  public static let bytea = Self(17)
  /// The `char` type (OID 18).
  public static let char = Self(18)
  /// The `name` type (OID 19).
  public static let name = Self(19)
  /// The `int8` type (OID 20).
  public static let int8 = Self(20)
  /// The `int2` type (OID 21).
  public static let int2 = Self(21)
  /// The `int4` type (OID 23).
  public static let int4 = Self(23)
  /// The `text` type (OID 25).
  public static let text = Self(25)
  /// The `oid` type (OID 26).
  public static let oidType = Self(26)
  /// The `json` type (OID 114).
  public static let json = Self(114)
  /// The `float4` type (OID 700).
  public static let float4 = Self(700)
  /// The `float8` type (OID 701).
  public static let float8 = Self(701)
  /// The `unknown` type (OID 705).
  public static let unknown = Self(705)
  /// The `bpchar` type (OID 1042).
  public static let bpchar = Self(1042)
  /// The `varchar` type (OID 1043).
  public static let varchar = Self(1043)
  /// The `date` type (OID 1082).
  public static let date = Self(1082)
  /// The `timestamp` type (OID 1114).
  public static let timestamp = Self(1114)
  /// The `timestamptz` type (OID 1184).
  public static let timestamptz = Self(1184)
  /// The `numeric` type (OID 1700).
  public static let numeric = Self(1700)
  /// The `uuid` type (OID 2950).
  public static let uuid = Self(2950)
  /// The `jsonb` type (OID 3802).
  public static let jsonb = Self(3802)
  /// The `void` type (OID 2278).
  public static let void = Self(2278)

  /// The `bool[]` type (OID 1000).
  public static let boolArray = Self(1000)
  /// The `bytea[]` type (OID 1001).
  public static let byteaArray = Self(1001)
  /// The `int2[]` type (OID 1005).
  public static let int2Array = Self(1005)
  /// The `int4[]` type (OID 1007).
  public static let int4Array = Self(1007)
  /// The `text[]` type (OID 1009).
  public static let textArray = Self(1009)
  /// The `varchar[]` type (OID 1015).
  public static let varcharArray = Self(1015)
  /// The `int8[]` type (OID 1016).
  public static let int8Array = Self(1016)
  /// The `float4[]` type (OID 1021).
  public static let float4Array = Self(1021)
  /// The `float8[]` type (OID 1022).
  public static let float8Array = Self(1022)
  /// The `timestamp[]` type (OID 1115).
  public static let timestampArray = Self(1115)
  /// The `timestamptz[]` type (OID 1185).
  public static let timestamptzArray = Self(1185)
  /// The `uuid[]` type (OID 2951).
  public static let uuidArray = Self(2951)
  /// The `numeric[]` type (OID 1231).
  public static let numericArray = Self(1231)

  private static let names: [UInt32: String] = [
    16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4",
    25: "text", 26: "oid", 114: "json", 700: "float4", 701: "float8", 705: "unknown",
    1042: "bpchar", 1043: "varchar", 1082: "date", 1114: "timestamp", 1184: "timestamptz",
    1700: "numeric", 2950: "uuid", 3802: "jsonb", 2278: "void", 1000: "bool[]", 1001: "bytea[]",
    1005: "int2[]", 1007: "int4[]", 1009: "text[]", 1015: "varchar[]", 1016: "int8[]",
    1021: "float4[]", 1022: "float8[]", 1115: "timestamp[]", 1185: "timestamptz[]",
    2951: "uuid[]", 1231: "numeric[]",
  ]

  /// The type's name for the built-in types above (`int8`, `text[]`), else nil.
  public var name: String? {
    Self.names[self.oid]
  }

  /// `int8 (OID 20)`, or `OID 16384` for a type without a known name.
  public var description: String {
    if let name = self.name {
      return "\(name) (OID \(self.oid))"
    }
    return "OID \(self.oid)"
  }

  /// True for the types whose binary form is the text itself.
  var isTextual: Bool {
    switch self {
    case .text, .varchar, .bpchar, .name, .unknown, .json, .char: true
    default: false
    }
  }
}
