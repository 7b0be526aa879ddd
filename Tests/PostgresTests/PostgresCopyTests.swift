import Foundation
import Postgres
import Testing

@Suite("COPY FROM STDIN")
struct PostgresCopyTests {
  /// One database for the suite, created on first use.
  static let database = DatabaseOnce("postgres_copy")

  func connect() async throws -> PostgresConnection {
    try await PostgresConnection.connect(.init(url: try await Self.database.url()))
  }

  /// A table of its own for each test.
  func table(_ connection: PostgresConnection) async throws -> String {
    let name = "copy_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    try await connection.query(
      """
      CREATE TABLE \(name) (n int8 PRIMARY KEY, t text, d float8, b bool, u uuid, at timestamptz, tags text[], ids uuid[],
        CHECK (n >= 0))
      """)
    return name
  }

  @Test("awkward values come back exactly as written: tabs, newlines, backslashes, NULLs, unicode, arrays")
  func roundTrip() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }
    let table = try await self.table(connection)
    let texts: [String?] = [
      "plain", "tab\there", "line\nbreak\r\nwindows", "back\\slash \\N not null", "\\", "", nil, "héllo 🛒 ünïcödé 日本",
      "quote \" and 'single'", "{braces},commas", "NULL",
    ]
    let tags: [[String?]?] = [
      ["a", "b"], [], nil, ["with \"quote\"", "back\\slash", "comma,brace}", "tab\tnew\nline"], ["NULL", nil, ""], ["ü 🛒"],
      ["x"], ["y"], ["z"], ["{}"], [" spaced "],
    ]
    let ids = [UUID(), UUID()]
    let instant = Date(timeIntervalSince1970: 1_732_460_000.123456)
    let copied = try await connection.copyFrom("COPY \(table) (n, t, d, b, u, at, tags, ids) FROM STDIN") { writer in
      var rows = PostgresCopyRows()
      for (index, text) in texts.enumerated() {
        rows.append(Int64(index))
        rows.append(text)
        rows.append(index == 0 ? Double.pi : index == 1 ? -0.000001 : index == 2 ? .infinity : index == 3 ? nil : Double(index))
        rows.append(index.isMultiple(of: 2) ? true : index == 3 ? nil : false)
        rows.append(index == 0 ? ids[0] : nil)
        rows.append(index == 0 ? instant : index == 1 ? Date(timeIntervalSince1970: -86_400 * 365.25 * 30 + 0.5) : nil)
        rows.append(tags[index])
        rows.append(index == 0 ? ids : index == 1 ? [] : nil)
        rows.endRow()
        // Chunks need not end at a row's end.
        if index == 4 {
          let split = rows.bytes.count / 2
          try await writer.write(Array(rows.bytes[..<split]))
          try await writer.write(Array(rows.bytes[split...]))
          rows.removeAll()
        }
      }
      try await writer.write(&rows)
    }
    #expect(copied == texts.count)
    let rows = try await connection.query("SELECT n, t, d, b, u, at, tags, ids FROM \(table) ORDER BY n")
    #expect(rows.count == texts.count)
    for row in rows {
      let n = try row.decode(0, as: Int.self)
      #expect(try row.decode(1, as: String?.self) == texts[n], "row \(n)")
      #expect(try row.decode(6, as: [String?]?.self) == tags[n], "row \(n)")
    }
    #expect(try rows[0].decode(2, as: Double.self) == Double.pi)
    #expect(try rows[1].decode(2, as: Double.self) == -0.000001)
    #expect(try rows[2].decode(2, as: Double.self) == .infinity)
    #expect(rows[3].isNull(2) && rows[3].isNull(3))
    #expect(try rows[0].decode(3, as: Bool.self) == true && rows[1].decode(3, as: Bool.self) == false)
    #expect(try rows[0].decode(4, as: UUID.self) == ids[0])
    #expect(try rows[0].decode(5, as: Date.self) == instant)
    #expect(try rows[1].decode(5, as: Date.self) == Date(timeIntervalSince1970: -86_400 * 365.25 * 30 + 0.5))
    #expect(try rows[0].decode(7, as: [UUID].self) == ids)
    #expect(try rows[1].decode(7, as: [UUID].self) == [])
  }

  @Test("bad data fails the COPY, copies nothing, and leaves the connection usable")
  func badData() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }
    let table = try await self.table(connection)
    await #expect {
      try await connection.copyFrom("COPY \(table) (n, t) FROM STDIN") { writer in
        var rows = PostgresCopyRows()
        for n in 0..<5000 {
          rows.append(Int64(n == 2500 ? -1 : n))  // breaks the CHECK midway
          rows.append("row \(n)")
          rows.endRow()
          if rows.bytes.count > 8192 { try await writer.write(&rows) }
        }
        try await writer.write(&rows)
      }
    } throws: { error in
      (error as? PostgresError)?.sqlState == "23514"
    }
    #expect(try await connection.query("SELECT count(*) FROM \(table)").scalar(as: Int64.self) == 0)
    // Pipelined statements work again, and so does another COPY.
    async let one = connection.query("SELECT 1::int8")
    async let two = connection.query("SELECT 2::int8")
    #expect(try await one.scalar(as: Int64.self) == 1)
    #expect(try await two.scalar(as: Int64.self) == 2)
    let copied = try await connection.copyFrom("COPY \(table) (n) FROM STDIN") { writer in
      try await writer.write(Array("1\n2\n".utf8))
    }
    #expect(copied == 2)
  }

  @Test("a rejected COPY statement fails the writer and the call, and the connection goes on")
  func rejectedStatement() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }
    await #expect {
      try await connection.copyFrom("COPY no_such_table FROM STDIN") { writer in
        for _ in 0..<10 { try await writer.write(Array("1\n".utf8)) }
      }
    } throws: { error in
      (error as? PostgresError)?.sqlState == "42P01"
    }
    #expect(try await connection.query("SELECT 3::int8").scalar(as: Int64.self) == 3)
  }

  @Test("an error thrown by the writer's body fails the COPY on the server and is rethrown")
  func bodyError() async throws {
    struct Stop: Error {}
    let connection = try await self.connect()
    defer { Task { await connection.close() } }
    let table = try await self.table(connection)
    await #expect(throws: Stop.self) {
      try await connection.copyFrom("COPY \(table) (n) FROM STDIN") { writer in
        try await writer.write(Array("1\n2\n".utf8))
        throw Stop()
      }
    }
    #expect(try await connection.query("SELECT count(*) FROM \(table)").scalar(as: Int64.self) == 0)
    #expect(try await connection.query("SELECT 4::int8").scalar(as: Int64.self) == 4)
  }

  @Test("a cancelled COPY stops, copies nothing, and the connection goes on")
  func cancellation() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }
    let table = try await self.table(connection)
    let started = AsyncStream<Void>.makeStream()
    let copy = Task {
      try await connection.copyFrom("COPY \(table) (n) FROM STDIN") { writer in
        try await writer.write(Array("1\n".utf8))
        started.continuation.yield()
        var n: Int64 = 2
        while true {  // until cancelled: writes fail then
          try await writer.write(Array("\(n)\n".utf8))
          n += 1
        }
      }
    }
    for await _ in started.stream { break }
    copy.cancel()
    await #expect(throws: CancellationError.self) { try await copy.value }
    #expect(try await connection.query("SELECT count(*) FROM \(table)").scalar(as: Int64.self) == 0)
    #expect(try await connection.copyFrom("COPY \(table) (n) FROM STDIN") { try await $0.write(Array("7\n".utf8)) } == 1)
  }

  @Test("COPY inside a transaction: BEGIN travels with it, and rollback removes the rows")
  func inTransaction() async throws {
    let url = try await Self.database.url()
    let pool = try PostgresPool(configuration: .init(url: url, maximumConnections: 2))
    let setup = try await self.connect()
    let table = try await self.table(setup)
    await setup.close()
    struct Undo: Error {}
    await #expect(throws: Undo.self) {
      try await pool.withTransaction { tx in
        try await tx.copyFrom("COPY \(table) (n) FROM STDIN") { writer in try await writer.write(Array("1\n2\n".utf8)) }
        #expect(try await tx.query("SELECT count(*) FROM \(table)").scalar(as: Int64.self) == 2)
        throw Undo()
      }
    }
    #expect(try await pool.query("SELECT count(*) FROM \(table)").scalar(as: Int64.self) == 0)
    let copied = try await pool.withTransaction { tx in
      try await tx.copyFrom("COPY \(table) (n) FROM STDIN") { writer in try await writer.write(Array("1\n2\n3\n".utf8)) }
    }
    #expect(copied == 3)
    #expect(try await pool.copyFrom("COPY \(table) (n) FROM STDIN") { writer in try await writer.write(Array("4\n".utf8)) } == 1)
    #expect(try await pool.query("SELECT count(*) FROM \(table)").scalar(as: Int64.self) == 4)
    await pool.close()
  }

  @Test("a large COPY streams in chunks")
  func large() async throws {
    let connection = try await self.connect()
    defer { Task { await connection.close() } }
    let table = try await self.table(connection)
    let count = 200_000
    let copied = try await connection.copyFrom("COPY \(table) (n, t) FROM STDIN") { writer in
      var rows = PostgresCopyRows(capacity: 1 << 16)
      for n in 0..<count {
        rows.append(Int64(n))
        rows.append(String(repeating: "x", count: n % 50))
        rows.endRow()
        if rows.bytes.count >= 1 << 16 { try await writer.write(&rows) }
      }
      try await writer.write(&rows)
    }
    #expect(copied == count)
    #expect(try await connection.query("SELECT sum(length(t)) FROM \(table)").scalar(as: Int64.self) == Int64((0..<count).reduce(0) { $0 + $1 % 50 }))
  }
}
