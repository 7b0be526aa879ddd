/// One SQL statement with its parameters.
struct PostgresStatement: Sendable {
  var sql: String
  var bindings: PostgresBindings
  /// False: never prepared (see ``PostgresPool/query(_:_:deadline:planning:)``).
  var cacheable = true

  /// What a prepared statement is cached under: the same SQL with other parameter types is a
  /// different prepared statement (binary parameters must match the declared types).
  var key: StatementKey { StatementKey(sql: self.sql, types: self.bindings.types, cacheable: self.cacheable) }
}
