import Testing

@testable import Postgres

@Suite("PostgresError")
struct PostgresErrorTests {
  @Test("a copy is a value: changing it leaves the original as it was")
  func copiesAreIndependent() {
    var original = PostgresError(code: .server, sqlState: "23505", message: "duplicate key")
    original.tableName = "customers"
    var copy = original
    #expect(copy == original)
    #expect(copy.hashValue == original.hashValue)

    copy.detail = "Key (email)=(a@b.c) already exists."
    copy.tableName = "sellers"
    copy.code = .typeMismatch

    #expect(original.detail == nil)
    #expect(original.tableName == "customers")
    #expect(original.code == .server)
    #expect(copy.detail == "Key (email)=(a@b.c) already exists.")
    #expect(copy.tableName == "sellers")
    #expect(copy != original)
  }

  @Test("errors with the same fields are equal and hash alike, whatever their history")
  func equalityIsByFields() {
    var first = PostgresError(code: .server, sqlState: "40001", message: "could not serialize")
    first.hint = "retry"
    var second = PostgresError(code: .server, sqlState: "40001", message: "something else")
    second.message = "could not serialize"
    second.hint = "retry"
    #expect(first == second)
    #expect(Set([first, second]).count == 1)
    #expect(first.isTransactionConflict)
  }
}
