/// The prepared-statement cache key: SQL text and parameter type OIDs.
struct StatementKey: Hashable, Sendable {
  var sql: String
  var types: [UInt32]
}
