import Foundation
import Postgres
import Testing

@Suite("PostgreSQL type round trips")
struct PostgresTypeRoundTripTests {
  /// One database for the suite, created on first use.
  static let database = DatabaseOnce("postgres_type_round_trips")

  func connect() async throws -> PostgresConnection {
    try await PostgresConnection.connect(.init(url: try await Self.database.url()))
  }

  @Test("integers, booleans, floats and text come back as sent")
  func scalars() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }

    let row = try #require(
      try await connection.query(
        "SELECT $1::int8, $2::int4, $3::int2, $4::bool, $5::float8, $6::float4, $7::text, $8::int8",
        [Int64.min, Int32.max, Int16(-7), true, Double.pi, Float(1.5), "héllo 'quoted' \"x\" 🛒", 42]
      ).first)
    #expect(try row.decode(0, as: Int64.self) == Int64.min)
    #expect(try row.decode(1, as: Int32.self) == Int32.max)
    #expect(try row.decode(2, as: Int16.self) == -7)
    #expect(try row.decode(3, as: Bool.self) == true)
    #expect(try row.decode(4, as: Double.self) == Double.pi)
    #expect(try row.decode(5, as: Float.self) == 1.5)
    #expect(try row.decode(6, as: String.self) == "héllo 'quoted' \"x\" 🛒")
    #expect(try row.decode(7, as: Int.self) == 42)
    // Wider Swift types read narrower columns.
    #expect(try row.decode(1, as: Int64.self) == Int64(Int32.max))

    let special = try #require(
      try await connection.query(
        "SELECT $1::float8, $2::float8, $3::text", [Double.infinity, -Double.greatestFiniteMagnitude, ""]
      ).first)
    #expect(try special.decode(0, as: Double.self) == .infinity)
    #expect(try special.decode(1, as: Double.self) == -Double.greatestFiniteMagnitude)
    #expect(try special.decode(2, as: String.self) == "")
    let nan = try await connection.query("SELECT 'NaN'::float8").scalar(as: Double.self)
    #expect(nan?.isNaN == true)
  }

  @Test("timestamptz, uuid, bytea and numeric")
  func richTypes() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }

    // Microsecond precision survives; Date holds it to well under a microsecond for this era.
    let instant = Date(timeIntervalSince1970: 1_732_460_000.123456)
    let id = UUID()
    let bytes: [UInt8] = [0, 1, 2, 0xff, 0, 0x7f]
    let row = try #require(
      try await connection.query(
        "SELECT $1::timestamptz, $2::uuid, $3::bytea, $4::bytea, 12345.678900::numeric, (-0.00001)::numeric, 1e20::numeric",
        [instant, id, bytes, Data([9, 8, 7])]
      ).first)
    let decoded = try row.decode(0, as: Date.self)
    #expect(abs(decoded.timeIntervalSince(instant)) < 0.000_001)
    #expect(try row.decode(1, as: UUID.self) == id)
    #expect(try row.decode(2, as: [UInt8].self) == bytes)
    #expect(try row.decode(3, as: Data.self) == Data([9, 8, 7]))
    #expect(try row.decode(4, as: String.self) == "12345.678900")
    #expect(try row.decode(5, as: String.self) == "-0.00001")
    #expect(try row.decode(6, as: String.self) == "100000000000000000000")
    #expect(try row.decode(4, as: Double.self) == 12345.6789)

    // The server agrees on what was sent: the timestamp as text in UTC, the uuid's text form.
    let text = try #require(
      try await connection.query(
        "SELECT to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), $2::uuid::text, length($3::bytea)",
        [instant, id, bytes]
      ).first)
    #expect(try text.decode(0, as: String.self) == "2024-11-24 14:53:20.123456")
    #expect(try text.decode(1, as: String.self) == id.uuidString.lowercased())
    #expect(try text.decode(2, as: Int32.self) == 6)

    let infinite = try #require(
      try await connection.query("SELECT 'infinity'::timestamptz, '-infinity'::timestamptz, '2024-02-29'::date").first)
    #expect(try infinite.decode(0, as: Date.self) == .distantFuture)
    #expect(try infinite.decode(1, as: Date.self) == .distantPast)
    #expect(try infinite.decode(2, as: Date.self) == Date(timeIntervalSince1970: 1_709_164_800))
  }

  @Test("arrays, with and without NULL elements, and empty ones")
  func arrays() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }

    let row = try #require(
      try await connection.query(
        "SELECT $1::int8[], $2::text[], $3::int8[], $4::text[], $5::uuid[], cardinality($2::text[])",
        [[Int64(1), -2, 3], ["a", "b,c", "\"d\"", ""], [Int64](), [Optional("x"), nil], [UUID(), UUID()]]
      ).first)
    #expect(try row.decode(0, as: [Int64].self) == [1, -2, 3])
    #expect(try row.decode(1, as: [String].self) == ["a", "b,c", "\"d\"", ""])
    #expect(try row.decode(2, as: [Int64].self) == [])
    #expect(try row.decode(3, as: [String?].self) == ["x", nil])
    #expect(try row.decode(4, as: [UUID].self).count == 2)
    #expect(try row.decode(5, as: Int32.self) == 4)
    // = ANY($1) with an array parameter: the usual way to pass a list.
    let matches = try await connection.query(
      "SELECT count(*) FROM generate_series(1, 10) AS n WHERE n = ANY($1::int8[])", [[Int64(2), 4, 99]])
    #expect(try matches.scalar(as: Int64.self) == 2)
  }

  @Test("NULL decodes as nil for optionals and is an error otherwise")
  func nulls() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }

    let row = try #require(
      try await connection.query(
        "SELECT $1::int8, $2::text, $3::timestamptz, NULL::uuid, $4::int8",
        [Int64?.none, String?.none, Date?.none, Int64?.some(5)]
      ).first)
    #expect(try row.decode(0, as: Int64?.self) == nil)
    #expect(try row.decode(1, as: String?.self) == nil)
    #expect(try row.decode(2, as: Date?.self) == nil)
    #expect(try row.decode(3, as: UUID?.self) == nil)
    #expect(try row.decode(4, as: Int64?.self) == 5)
    #expect(row.isNull(0))
    let error = try #require(throws: PostgresError.self) { try row.decode(1, as: String.self) }
    #expect(error.code == .unexpectedNull)
    #expect(error.message.contains("Column 1"))
  }

  @Test("a type mismatch names the column and both types")
  func mismatch() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }

    let row = try #require(try await connection.query("SELECT 7::int4 AS quantity, 3000000000::int8 AS big").first)
    let error = try #require(throws: PostgresError.self) { try row.decode("quantity", as: String.self) }
    #expect(error.code == .typeMismatch)
    #expect(error.message.contains("quantity"))
    #expect(error.message.contains("int4 (OID 23)"))
    #expect(error.message.contains("String"))
    #expect(error.columnName == "quantity")
    let narrow = try #require(throws: PostgresError.self) { try row.decode("big", as: Int32.self) }
    #expect(narrow.code == .malformedValue)
    let missing = try #require(throws: PostgresError.self) { try row.decode("Quantity", as: Int32.self) }
    #expect(missing.code == .columnNotFound)
    #expect(try row.decode("quantity", as: Int32.self) == 7)
  }

  @Test("values are parameters: SQL in a value is stored as text, never run")
  func injectionIsInert() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }

    try await connection.query("CREATE TABLE notes (body text NOT NULL)")
    let hostile = "x'); DROP TABLE notes; --"
    try await connection.query("INSERT INTO notes (body) VALUES ($1)", [hostile])
    let stored = try await connection.query("SELECT body FROM notes").scalar(as: String.self)
    #expect(stored == hostile)
    #expect(try await connection.query("SELECT count(*) FROM notes").scalar(as: Int64.self) == 1)
  }
}
