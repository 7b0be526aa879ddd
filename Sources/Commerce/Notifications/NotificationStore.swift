import CommerceAPI
import CommerceKit
import Crypto
import Foundation
import Messages
import Postgres

/// All SQL of schema `notifications`. Each method is one transaction (or one statement), named
/// for what it does; values always travel as parameters.
///
/// A recipient's sequence numbers come from its `recipients` row (UPDATE ... RETURNING in
/// ``publish(_:source:now:keep:)``). The row stays locked until the transaction commits, so a
/// recipient's notifications commit in sequence order: a reader that sees sequence n also sees
/// every sequence below it, and "after sequence n" never skips one committed later. Each
/// publishing transaction sends `NOTIFY` on the channel of every recipient it wrote to
/// (``channel(for:)``), delivered on commit.
struct NotificationStore: Sendable {
  let pool: PostgresPool

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "a notifications row holds a value the code does not know")
    var description: String
  }

  /// The NOTIFY channel of a recipient's new notifications: a digest of the id, so that any id
  /// fits PostgreSQL's 63-byte channel names (two recipients sharing a channel only wake each
  /// other's streams for nothing).
  static func channel(for recipientID: String) -> String {
    let digest = SHA256.hash(data: Data(recipientID.utf8))
    return "notifications_" + Array(digest.prefix(12)).hexDigits
  }

  private static let columns =
    "id, recipient_id, sequence, kind, title, body, source_service, source_event_id, occur_time, create_time, read_time, payload"

  private static func record(_ row: PostgresRow) throws -> NotificationRecord {
    let kind = CommerceV1.NotificationKind(rawValue: try row.decode(3, as: Int32.self))
    guard case .unrecognized = kind else {
      return NotificationRecord(
        id: try row.decode(0, as: UUID.self), recipientID: try row.decode(1, as: String.self),
        sequence: try row.decode(2, as: Int64.self), kind: kind, title: try row.decode(4, as: String.self),
        body: try row.decode(5, as: String.self), sourceService: try row.decode(6, as: String.self),
        sourceEventID: try row.decode(7, as: String.self), occurTime: try row.decode(8, as: Date.self),
        createTime: try row.decode(9, as: Date.self), readTime: try row.decode(10, as: Date?.self),
        payload: try CommerceV1.NotificationPayload(serializedBytes: try row.decode(11, as: [UInt8].self)))
    }
    throw StoreError.corruptRow
  }

  // MARK: Publishing

  /// Stores the events of one PublishEvents call in one transaction: those not accepted before
  /// (by `source` and source event id, also within the batch) get the next sequence numbers of
  /// their recipients, in batch order; each recipient's oldest notifications beyond `keep` are
  /// deleted; the recipients' streams are woken on commit. Returns how many were new.
  ///
  /// Two round trips: the first (with `BEGIN`) records the event ids and takes the recipients'
  /// sequence numbers in one statement, which locks the recipients' counter rows; the second
  /// writes the notifications, trims each recipient's oldest and wakes the streams, with
  /// `COMMIT`. So a counter row stays locked for one round trip and the commit, which matters
  /// when several sources publish to the same customers at once (the order, payment and
  /// shipment relays).
  func publish(_ events: [NewNotification], source: String, now: Date, keep: Int64) async throws -> Int {
    // A repeat of an id within the batch is a duplicate: only its first occurrence counts.
    var seen: Set<String> = []
    let batch = events.filter { seen.insert($0.sourceEventID).inserted }
    guard !batch.isEmpty else { return 0 }
    return try await pool.withTransaction { tx in
      // Deduplication against earlier calls, and the counters: one counter row per recipient,
      // taken in recipient order (no deadlock between batches naming the same recipients).
      // Rows of kind 0 name the fresh event ids; rows of kind 1 each recipient's last sequence
      // after this batch.
      let rows = try await tx.query(
        """
        WITH fresh AS (
          INSERT INTO notifications.accepted_events (source_service, source_event_id, accepted_at)
          SELECT $1, e, $3 FROM unnest($2::text[]) AS e ON CONFLICT DO NOTHING RETURNING source_event_id
        ), counts AS (
          SELECT u.r AS id, count(*)::int8 AS n
          FROM unnest($2::text[], $4::text[]) AS u (e, r) JOIN fresh ON fresh.source_event_id = u.e
          GROUP BY u.r
        ), last AS (
          INSERT INTO notifications.recipients AS r (recipient_id, last_sequence)
          SELECT id, n FROM counts ORDER BY id
          ON CONFLICT (recipient_id) DO UPDATE SET last_sequence = r.last_sequence + EXCLUDED.last_sequence
          RETURNING recipient_id, last_sequence
        )
        SELECT 0, source_event_id, 0::int8 FROM fresh
        UNION ALL SELECT 1, recipient_id, last_sequence FROM last
        """, [source, batch.map(\.sourceEventID), now, batch.map(\.recipientID)])
      var fresh: Set<String> = []
      var last: [String: Int64] = [:]
      for row in rows {
        if try row.decode(0, as: Int32.self) == 0 {
          fresh.insert(try row.decode(1, as: String.self))
        } else {
          last[try row.decode(1, as: String.self)] = try row.decode(2, as: Int64.self)
        }
      }
      let accepted = batch.filter { fresh.contains($0.sourceEventID) }
      guard !accepted.isEmpty else { return 0 }
      var counts: [String: Int64] = [:]
      for event in accepted { counts[event.recipientID, default: 0] += 1 }
      let recipients = counts.keys.sorted()
      var next: [String: Int64] = [:]
      for recipient in recipients {
        guard let end = last[recipient] else { throw StoreError(description: "no sequence was taken for a recipient") }
        next[recipient] = end - counts[recipient]! + 1
      }
      var sequences: [Int64] = []
      for event in accepted {
        sequences.append(next[event.recipientID]!)
        next[event.recipientID]! += 1
      }
      try await tx.queryAndCommit([
        try .init(
          """
          INSERT INTO notifications.notifications
            (id, recipient_id, sequence, kind, title, body, source_service, source_event_id, occur_time, create_time, payload)
          SELECT id, r, s, k, t, b, $9, e, o, $10, decode(p, 'hex')
          FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $11::text[])
            AS u (id, r, s, k, t, b, e, o, p)
          """,
          [
            accepted.map(\.id), accepted.map(\.recipientID), sequences, accepted.map(\.kind.rawValue), accepted.map(\.title),
            accepted.map(\.body), accepted.map(\.sourceEventID), accepted.map(\.occurTime), source, now,
            try accepted.map { try $0.payload.serializedBytes().hexDigits },
          ]),
        // Retention by count: each recipient keeps its latest `keep` (sequences have no holes).
        // Planned per call: a kept plan made while the table was small joined by scanning all of
        // it, and kept doing so as it grew.
        try .init(
          """
          DELETE FROM notifications.notifications AS n USING unnest($1::text[], $2::int8[]) AS u (id, last)
          WHERE n.recipient_id = u.id AND n.sequence <= u.last - $3
          """, [recipients, recipients.map { last[$0]! }, keep], planning: .perCall),
        try .init("SELECT pg_notify(c, '') FROM unnest($1::text[]) AS c", [recipients.map(Self.channel(for:))]),
      ])
      return accepted.count
    }
  }

  // MARK: Reading

  /// Up to `limit` of a recipient's notifications after `sequence`, oldest first, created after
  /// `cutoff` (retention), of `kinds` (empty: every kind).
  func notifications(of recipientID: String, after sequence: Int64, kinds: [Int32], cutoff: Date, limit: Int) async throws
    -> [NotificationRecord]
  {
    try await pool.query(
      """
      SELECT \(Self.columns) FROM notifications.notifications
      WHERE recipient_id = $1 AND sequence > $2 AND create_time > $3 AND (cardinality($4::int4[]) = 0 OR kind = ANY($4))
      ORDER BY sequence LIMIT $5
      """, [recipientID, sequence, cutoff, kinds, Int64(limit)]
    ).map(Self.record)
  }

  /// Where a recipient's retained notifications stand: the last sequence given out (0 before
  /// the first) and the last one no longer retained (0 when nothing was dropped). Retained
  /// sequences are always the whole range after `floor` up to `last`.
  func position(of recipientID: String, cutoff: Date) async throws -> (last: Int64, floor: Int64) {
    let rows = try await pool.query(
      """
      SELECT r.last_sequence,
        (SELECT n.sequence FROM notifications.notifications AS n
         WHERE n.recipient_id = r.recipient_id AND n.create_time > $2 ORDER BY n.sequence LIMIT 1)
      FROM notifications.recipients AS r WHERE r.recipient_id = $1
      """, [recipientID, cutoff])
    guard let row = rows.first else { return (0, 0) }
    let last = try row.decode(0, as: Int64.self)
    let oldest = try row.decode(1, as: Int64?.self)
    return (last, oldest.map { $0 - 1 } ?? last)
  }

  /// The sequence of a recipient's notification `id`, whether retained or not yet swept; nil
  /// when it is unknown or someone else's.
  func sequence(of id: UUID, recipientID: String) async throws -> Int64? {
    try await pool.query(
      "SELECT sequence FROM notifications.notifications WHERE id = $1 AND recipient_id = $2", [id, recipientID]
    ).first?.decode(0, as: Int64.self)
  }

  /// One page of a recipient's inbox, newest first, before sequence `before` (nil: from the
  /// newest).
  func inbox(
    of recipientID: String, before: Int64?, unreadOnly: Bool, kinds: [Int32], cutoff: Date, limit: Int
  ) async throws -> [NotificationRecord] {
    try await pool.query(
      """
      SELECT \(Self.columns) FROM notifications.notifications
      WHERE recipient_id = $1 AND sequence < $2 AND create_time > $3 AND (NOT $4 OR read_time IS NULL)
        AND (cardinality($5::int4[]) = 0 OR kind = ANY($5))
      ORDER BY sequence DESC LIMIT $6
      """, [recipientID, before ?? Int64.max, cutoff, unreadOnly, kinds, Int64(limit)]
    ).map(Self.record)
  }

  /// How many of a recipient's retained notifications are unread.
  func unreadCount(of recipientID: String, cutoff: Date) async throws -> Int64 {
    try await pool.query(
      "SELECT count(*) FROM notifications.notifications WHERE recipient_id = $1 AND read_time IS NULL AND create_time > $2",
      [recipientID, cutoff]
    ).first?.decode(0, as: Int64.self) ?? 0
  }

  // MARK: Marking read

  /// Marks read the recipient's unread notifications among `ids` or up to sequence `upTo`;
  /// returns how many changed and how many unread are left.
  func markRead(of recipientID: String, ids: [UUID], upTo: Int64, now: Date, cutoff: Date) async throws -> (marked: Int64, unread: Int64) {
    try await pool.withTransaction { tx in
      let marked = try await tx.query(
        """
        UPDATE notifications.notifications SET read_time = $4
        WHERE recipient_id = $1 AND read_time IS NULL AND create_time > $5 AND (id = ANY($2) OR sequence <= $3)
        """, [recipientID, ids, upTo, now, cutoff]
      ).affectedRows
      let unread =
        try await tx.query(
          "SELECT count(*) FROM notifications.notifications WHERE recipient_id = $1 AND read_time IS NULL AND create_time > $2",
          [recipientID, cutoff]
        ).first?.decode(0, as: Int64.self) ?? 0
      return (Int64(marked), unread)
    }
  }

  // MARK: Retention

  /// Deletes notifications created before `cutoff` and accepted-event records older than
  /// `eventsCutoff`, in batches; returns how many notifications it deleted.
  func sweep(cutoff: Date, eventsCutoff: Date, batch: Int = 5000) async throws -> Int {
    var total = 0
    while true {
      let deleted = try await pool.query(
        """
        DELETE FROM notifications.notifications WHERE id IN
          (SELECT id FROM notifications.notifications WHERE create_time <= $1 LIMIT $2)
        """, [cutoff, Int64(batch)]
      ).affectedRows
      total += deleted
      if deleted < batch { break }
    }
    while true {
      let deleted = try await pool.query(
        """
        DELETE FROM notifications.accepted_events WHERE (source_service, source_event_id) IN
          (SELECT source_service, source_event_id FROM notifications.accepted_events WHERE accepted_at <= $1 LIMIT $2)
        """, [eventsCutoff, Int64(batch)]
      ).affectedRows
      if deleted < batch { break }
    }
    return total
  }
}
