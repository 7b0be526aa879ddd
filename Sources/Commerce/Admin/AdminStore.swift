import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `admin`: the audit log and the operation records. Each method is one
/// statement, or one step of a transaction its caller owns (the `in tx:` methods); values always
/// travel as parameters.
struct AdminStore: Sendable {
  let pool: PostgresPool

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "an admin row holds a value the code does not know")
    var description: String
  }

  // MARK: Audit events

  /// One administrative change, as it is stored.
  struct AuditRecord: Sendable {
    var id: UUID
    var seq: Int64 = 0
    var actorUserID: String
    var action: String
    var targetKind: String
    var targetID: String
    var reason: String
    var attributes: [String: String]
    var createdAt: Date

    var message: CommerceV1.AuditEvent {
      .with {
        $0.auditEventId = id.lowercasedString
        $0.actorUserId = actorUserID
        $0.action = action
        $0.targetKind = targetKind
        $0.targetId = targetID
        $0.reason = reason
        $0.attributes = attributes
        $0.createTime = .init(createdAt)
      }
    }
  }

  private static let auditColumns = "id, seq, actor_user_id, action, target_kind, target_id, reason, attributes::text, created_at"

  private static func audit(_ row: PostgresRow) throws -> AuditRecord {
    let json = try row.decode(7, as: String.self)
    guard let attributes = try? JSONDecoder().decode([String: String].self, from: Data(json.utf8)) else { throw StoreError.corruptRow }
    return AuditRecord(
      id: try row.decode(0, as: UUID.self), seq: try row.decode(1, as: Int64.self), actorUserID: try row.decode(2, as: String.self),
      action: try row.decode(3, as: String.self), targetKind: try row.decode(4, as: String.self), targetID: try row.decode(5, as: String.self),
      reason: try row.decode(6, as: String.self), attributes: attributes, createdAt: try row.decode(8, as: Date.self))
  }

  /// Appends an audit event; returns it as stored.
  @discardableResult
  func insert(_ event: AuditRecord, in tx: PostgresTransaction) async throws -> AuditRecord {
    let json = String(decoding: try JSONEncoder().encode(event.attributes), as: UTF8.self)
    let row = try await tx.query(
      """
      INSERT INTO admin.audit_events (id, actor_user_id, action, target_kind, target_id, reason, attributes, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8) RETURNING \(Self.auditColumns)
      """, [event.id, event.actorUserID, event.action, event.targetKind, event.targetID, event.reason, json, event.createdAt]
    ).first
    guard let row else { throw StoreError.corruptRow }
    return try Self.audit(row)
  }

  /// The filters of ListAuditEvents; nil means no filter.
  struct AuditFilter: Sendable {
    var actorUserID: String?
    var targetID: String?
    var minCreatedAt: Date?
    var maxCreatedAt: Date?
  }

  /// One page of the audit log, newest first: `limit` events before `beforeSeq`.
  func auditPage(_ filter: AuditFilter, beforeSeq: Int64?, limit: Int) async throws -> [AuditRecord] {
    try await pool.query(
      """
      SELECT \(Self.auditColumns) FROM admin.audit_events
      WHERE ($1::text IS NULL OR actor_user_id = $1)
        AND ($2::text IS NULL OR target_id = $2)
        AND ($3::timestamptz IS NULL OR created_at >= $3)
        AND ($4::timestamptz IS NULL OR created_at < $4)
        AND ($5::bigint IS NULL OR seq < $5)
      ORDER BY seq DESC LIMIT $6
      """, [filter.actorUserID, filter.targetID, filter.minCreatedAt, filter.maxCreatedAt, beforeSeq, Int64(limit)]
    ).map(Self.audit)
  }

  // MARK: Operations

  /// A long-running operation's record; its state lives with the service that does the work.
  struct OperationRecord: Sendable {
    var id: UUID
    var kind: CommerceV1.OperationKind
    var requestedBy: String
    var createdAt: Date
  }

  private static func operation(_ row: PostgresRow) throws -> OperationRecord {
    guard try row.decode(1, as: String.self) == "reindex_catalog" else { throw StoreError.corruptRow }
    return OperationRecord(
      id: try row.decode(0, as: UUID.self), kind: .reindexCatalog, requestedBy: try row.decode(2, as: String.self),
      createdAt: try row.decode(3, as: Date.self))
  }

  func insert(_ operation: OperationRecord, in tx: PostgresTransaction) async throws {
    try await tx.query(
      "INSERT INTO admin.operations (id, kind, requested_by, created_at) VALUES ($1, 'reindex_catalog', $2, $3)",
      [operation.id, operation.requestedBy, operation.createdAt])
  }

  func operation(_ id: UUID) async throws -> OperationRecord? {
    try await pool.query("SELECT id, kind, requested_by, created_at FROM admin.operations WHERE id = $1", [id]).first.map(Self.operation)
  }
}
