/// The prepared-statement cache key: SQL text and parameter type OIDs.
struct StatementKey: Hashable, Sendable {
  var sql: String
  var types: [UInt32]
  /// Whether the statement may be prepared and kept; false sends it unnamed, planned for its
  /// parameter values every time.
  var cacheable = true
}
