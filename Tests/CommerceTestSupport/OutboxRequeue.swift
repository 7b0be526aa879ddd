public import CommerceKit
public import Postgres

extension Outbox {
  /// Marks the outbox events matching `condition` (SQL on the outbox's columns, `$1`, `$2`...
  /// bound to `parameters`) unpublished again and puts them back on the relays' queue, as if
  /// a relay had stopped after sending them and before marking them sent. Returns how many.
  @discardableResult
  public func requeue(where condition: String, _ parameters: [any PostgresEncodable] = [], in tx: PostgresTransaction) async throws
    -> Int
  {
    try await tx.query(
      """
      WITH requeued AS (UPDATE \(schema).outbox SET published_at = NULL WHERE \(condition) RETURNING id, topic)
      INSERT INTO \(schema).outbox_pending (id, topic) SELECT id, topic FROM requeued ON CONFLICT (id) DO NOTHING
      """, parameters
    ).affectedRows
  }

  /// ``requeue(where:_:in:)`` in a transaction of its own.
  @discardableResult
  public func requeue(where condition: String, _ parameters: [any PostgresEncodable] = [], pool: PostgresPool) async throws -> Int {
    try await pool.withTransaction { tx in try await requeue(where: condition, parameters, in: tx) }
  }
}
