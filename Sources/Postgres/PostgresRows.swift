import CLibPQ
import Foundation

/// The outcome of one statement: its rows (none for a command) and its command tag.
///
/// Rows are read straight from libpq's result, which the value owns and frees when the last copy
/// is gone; nothing is copied until a column is decoded. A value is immutable and safe to pass
/// between tasks.
///
/// ```swift
/// let rows = try await pool.query("SELECT id, name FROM catalog.products WHERE price < $1", [500])
/// for row in rows {
///   let id = try row.decode("id", as: Int64.self)
///   let name = try row.decode("name", as: String.self)
/// }
/// ```
public struct PostgresRows: Sendable, RandomAccessCollection {
  let result: PostgresResult?

  init(_ result: PostgresResult?) {
    self.result = result
  }

  /// The index of the first row (always 0).
  public var startIndex: Int { 0 }

  /// The number of rows.
  public var endIndex: Int { self.result?.rowCount ?? 0 }

  /// The row at `index`.
  public subscript(index: Int) -> PostgresRow {
    precondition(index >= 0 && index < self.endIndex, "row index out of range")
    return PostgresRow(result: self.result!, index: Int32(index))
  }

  /// The column names, in order.
  public var columns: [String] {
    guard let result = self.result else { return [] }
    return (0..<result.columnCount).map { result.columnName($0) }
  }

  /// The command tag, such as `INSERT 0 1` or `SELECT 3`.
  public var commandTag: String {
    guard let pointer = self.result?.pointer, let tag = PQcmdStatus(pointer) else { return "" }
    return String(cString: tag)
  }

  /// The number of rows the command inserted, updated, deleted, selected, moved or copied
  /// (libpq's `PQcmdTuples`); 0 for commands that do not count rows.
  public var affectedRows: Int {
    guard let pointer = self.result?.pointer, let count = PQcmdTuples(pointer) else { return 0 }
    return Int(String(cString: count)) ?? 0
  }

  /// Decodes column 0 of the first row, or returns nil when there are no rows.
  ///
  /// - Throws: What ``PostgresRow/decode(_:as:)-(Int,_)`` throws.
  public func scalar<Value: PostgresDecodable>(as type: Value.Type = Value.self) throws -> Value? {
    guard let first = self.first else { return nil }
    return try first.decode(0, as: type)
  }
}

/// One row of ``PostgresRows``. Decode its columns by index or by name.
public struct PostgresRow: Sendable {
  let result: PostgresResult
  let index: Int32

  /// The number of columns.
  public var count: Int { self.result.columnCount }

  /// Decodes column `column` (0-based) as `type`.
  ///
  /// - Throws: ``PostgresError`` with code ``PostgresError/Code/columnNotFound``,
  ///   ``PostgresError/Code/typeMismatch`` (naming the column and its type by OID),
  ///   ``PostgresError/Code/unexpectedNull`` or ``PostgresError/Code/malformedValue``.
  public func decode<Value: PostgresDecodable>(_ column: Int, as type: Value.Type = Value.self)
    throws -> Value
  {
    guard column >= 0, column < self.result.columnCount else {
      throw PostgresError.client(
        .columnNotFound,
        "Column index \(column) is out of range: the result has \(self.result.columnCount) columns."
      )
    }
    let pointer = self.result.pointer
    let field = Int32(column)
    do {
      if PQgetisnull(pointer, self.index, field) != 0 {
        return try Value.decodeNull()
      }
      let bytes = UnsafeRawBufferPointer(
        start: PQgetvalue(pointer, self.index, field),
        count: Int(PQgetlength(pointer, self.index, field)))
      return try Value.decode(from: bytes, type: PostgresDataType(PQftype(pointer, field)))
    } catch var error as PostgresError {
      error.message =
        "Column \(column) (\"\(self.result.columnName(column))\") " + error.message + "."
      error.columnName = self.result.columnName(column)
      throw error
    }
  }

  /// Decodes the column named `column` (compared exactly, case-sensitively; the first match) as
  /// `type`.
  ///
  /// - Throws: As ``decode(_:as:)-(Int,_)``, and ``PostgresError/Code/columnNotFound`` when no
  ///   column has that name.
  public func decode<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self)
    throws -> Value
  {
    guard let index = self.result.columnIndex(named: column) else {
      throw PostgresError.client(
        .columnNotFound, "No column is named \"\(column)\" in the result.")
    }
    return try self.decode(index, as: type)
  }

  /// True when column `column` is NULL.
  public func isNull(_ column: Int) -> Bool {
    guard column >= 0, column < self.result.columnCount else { return false }
    return PQgetisnull(self.result.pointer, self.index, Int32(column)) != 0
  }

  /// The type of column `column`.
  public func dataType(_ column: Int) -> PostgresDataType {
    PostgresDataType(PQftype(self.result.pointer, Int32(column)))
  }
}

/// Owns a `PGresult` and frees it with `PQclear` when the last reference goes.
///
/// `@unchecked Sendable`: libpq never modifies a `PGresult` after handing it out, and reading one
/// (`PQgetvalue`, `PQftype`, ...) from several threads at once is safe; it is freed exactly once,
/// in `deinit`, when nothing can read it any more.
final class PostgresResult: @unchecked Sendable {
  let pointer: OpaquePointer
  let rowCount: Int
  let columnCount: Int

  init(_ pointer: OpaquePointer) {
    self.pointer = pointer
    self.rowCount = Int(PQntuples(pointer))
    self.columnCount = Int(PQnfields(pointer))
  }

  deinit {
    PQclear(self.pointer)
  }

  func columnName(_ column: Int) -> String {
    guard let name = PQfname(self.pointer, Int32(column)) else { return "" }
    return String(cString: name)
  }

  /// Exact, case-sensitive lookup (libpq's `PQfnumber` folds unquoted names to lower case).
  func columnIndex(named name: String) -> Int? {
    name.withCString { wanted in
      for column in 0..<self.columnCount {
        if let candidate = PQfname(self.pointer, Int32(column)), strcmp(candidate, wanted) == 0 {
          return column
        }
      }
      return nil
    }
  }
}
