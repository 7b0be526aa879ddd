import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `reviews`. Each method is one statement, or one step of a transaction its
/// caller owns (the `in tx:` methods); values always travel as parameters.
///
/// Lock order: a review's row, then its product's `rating_summaries` row. Every change that
/// alters the published set of a product's reviews moves that product's counts in the same
/// transaction (``moveCounts(product:remove:add:in:)``), so summaries are exact under
/// concurrent writes, and appends an outbox event that the relay turns into
/// CatalogService.RecordRatingSummaries.
struct ReviewStore: Sendable {
  let pool: PostgresPool
  let outbox = Outbox(schema: "reviews")

  /// The outbox topic of summary changes; the aggregate is the product id.
  static let summaryChangedTopic = "rating_summary.changed"

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "a reviews row holds a value the code does not know")
    var description: String
  }

  // MARK: Reviews

  private static let columns = """
    id, seq, product_id, author_id, order_id, rating, title, body, status, moderation_note,
    reply_body, reply_author_id, reply_created_at, reply_updated_at, created_at, updated_at, version
    """

  private static func review(_ row: PostgresRow) throws -> ReviewRecord {
    let status = try row.decode(8, as: String.self)
    guard status == "published" || status == "hidden" else { throw StoreError.corruptRow }
    var reply: ReviewRecord.Reply?
    if let body = try row.decode(10, as: String?.self) {
      reply = ReviewRecord.Reply(
        body: body, authorID: try row.decode(11, as: String?.self) ?? "", createdAt: try row.decode(12, as: Date.self),
        updatedAt: try row.decode(13, as: Date.self))
    }
    return ReviewRecord(
      id: try row.decode(0, as: UUID.self), seq: try row.decode(1, as: Int64.self), productID: try row.decode(2, as: String.self),
      authorID: try row.decode(3, as: String.self), orderID: try row.decode(4, as: String.self), rating: Int(try row.decode(5, as: Int16.self)),
      title: try row.decode(6, as: String.self), body: try row.decode(7, as: String.self), hidden: status == "hidden",
      moderationNote: try row.decode(9, as: String.self), reply: reply, createdAt: try row.decode(14, as: Date.self),
      updatedAt: try row.decode(15, as: Date.self), version: try row.decode(16, as: Int64.self))
  }

  func review(_ id: UUID) async throws -> ReviewRecord? {
    try await pool.query("SELECT \(Self.columns) FROM reviews.reviews WHERE id = $1", [id]).first.map(Self.review)
  }

  /// The author's review of a product, if any.
  func review(author: String, product: String) async throws -> ReviewRecord? {
    try await pool.query("SELECT \(Self.columns) FROM reviews.reviews WHERE author_id = $1 AND product_id = $2", [author, product])
      .first.map(Self.review)
  }

  /// Locks a review for change; nil when it does not exist.
  func lock(_ id: UUID, in tx: PostgresTransaction) async throws -> ReviewRecord? {
    try await tx.query("SELECT \(Self.columns) FROM reviews.reviews WHERE id = $1 FOR UPDATE", [id]).first.map(Self.review)
  }

  /// Inserts a new published review; false when the author already reviewed the product (the
  /// unique key decides, so two concurrent first reviews cannot both land).
  func insert(_ r: ReviewRecord, in tx: PostgresTransaction) async throws -> Bool {
    try await !tx.query(
      """
      INSERT INTO reviews.reviews (id, product_id, author_id, order_id, rating, title, body, status, created_at, updated_at, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, 'published', $8, $8, 1)
      ON CONFLICT (author_id, product_id) DO NOTHING RETURNING id
      """, [r.id, r.productID, r.authorID, r.orderID, Int16(r.rating), r.title, r.body, r.createdAt]
    ).isEmpty
  }

  /// Writes every changeable column of a locked review; returns the review as stored (times at
  /// the database's precision, as every later read returns them).
  func update(_ r: ReviewRecord, in tx: PostgresTransaction) async throws -> ReviewRecord {
    let row = try await tx.query(
      """
      UPDATE reviews.reviews SET rating = $2, title = $3, body = $4, status = $5, moderation_note = $6, reply_body = $7,
        reply_author_id = $8, reply_created_at = $9, reply_updated_at = $10, updated_at = $11, version = $12
      WHERE id = $1 RETURNING \(Self.columns)
      """,
      [
        r.id, Int16(r.rating), r.title, r.body, r.hidden ? "hidden" : "published", r.moderationNote, r.reply?.body, r.reply?.authorID,
        r.reply?.createdAt, r.reply?.updatedAt, r.updatedAt, r.version,
      ]
    ).first
    guard let row else { throw StoreError.corruptRow }
    return try Self.review(row)
  }

  func delete(_ id: UUID, in tx: PostgresTransaction) async throws {
    try await tx.query("DELETE FROM reviews.reviews WHERE id = $1", [id])
  }

  /// The order of a list and the keyset position of its rows.
  enum ListOrder: Sendable {
    case newest, highestRating, lowestRating
  }

  /// One page of a product's published reviews: `limit` rows after the position (the last
  /// row's rating and seq).
  func page(product: String, order: ListOrder, rating: Int?, after: (rating: Int, seq: Int64)?, limit: Int) async throws -> [ReviewRecord] {
    var conditions = ["product_id = $1", "status = 'published'"]
    var parameters: [any PostgresEncodable] = [product]
    if let rating {
      parameters.append(Int16(rating))
      conditions.append("rating = $\(parameters.count)")
    }
    let orderBy: String
    switch order {
    case .newest: orderBy = "seq DESC"
    case .highestRating: orderBy = "rating DESC, seq DESC"
    case .lowestRating: orderBy = "rating ASC, seq DESC"
    }
    if let after {
      parameters.append(after.seq)
      let seq = "$\(parameters.count)"
      switch order {
      case .newest:
        conditions.append("seq < \(seq)")
      case .highestRating, .lowestRating:
        parameters.append(Int16(after.rating))
        let position = "$\(parameters.count)"
        let beyond = order == .highestRating ? "<" : ">"
        conditions.append("(rating \(beyond) \(position) OR (rating = \(position) AND seq < \(seq)))")
      }
    }
    parameters.append(limit)
    return try await pool.query(
      "SELECT \(Self.columns) FROM reviews.reviews WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(orderBy) LIMIT $\(parameters.count)",
      parameters
    ).map(Self.review)
  }

  // MARK: Summaries

  private static let countColumns = ["ones", "twos", "threes", "fours", "fives"]

  /// Moves a product's published counts: one review of rating `remove` leaves the published set
  /// and one of rating `add` joins it (either may be nil). Bumps the version and appends the
  /// outbox event. Nothing happens when both are nil or equal.
  func moveCounts(product: String, remove: Int?, add: Int?, in tx: PostgresTransaction) async throws {
    guard remove != add else { return }
    var deltas = [Int64](repeating: 0, count: 5)
    if let remove { deltas[remove - 1] -= 1 }
    if let add { deltas[add - 1] += 1 }
    // A removal finds the row (the removed review was counted in it). An insertion may create
    // it; the VALUES row is checked against the CHECK constraints before ON CONFLICT applies,
    // so only a change without a removal, whose deltas are all positive, may take that path.
    let returning = "RETURNING ones, twos, threes, fours, fives, version"
    let row: PostgresRow?
    if remove == nil {
      row = try await tx.query(
        """
        INSERT INTO reviews.rating_summaries AS s (product_id, ones, twos, threes, fours, fives, version)
        VALUES ($1, $2, $3, $4, $5, $6, 1)
        ON CONFLICT (product_id) DO UPDATE SET ones = s.ones + $2, twos = s.twos + $3, threes = s.threes + $4,
          fours = s.fours + $5, fives = s.fives + $6, version = s.version + 1
        \(returning)
        """, [product, deltas[0], deltas[1], deltas[2], deltas[3], deltas[4]]
      ).first
    } else {
      row = try await tx.query(
        """
        UPDATE reviews.rating_summaries SET ones = ones + $2, twos = twos + $3, threes = threes + $4, fours = fours + $5,
          fives = fives + $6, version = version + 1
        WHERE product_id = $1 \(returning)
        """, [product, deltas[0], deltas[1], deltas[2], deltas[3], deltas[4]]
      ).first
    }
    guard let row else { throw StoreError.corruptRow }
    let counts = try Self.counts(row)
    _ = try await outbox.append(counts.summary(productID: product), topic: Self.summaryChangedTopic, aggregateID: product, in: tx)
  }

  private static func counts(_ row: PostgresRow, from first: Int = 0) throws -> RatingCounts {
    RatingCounts(counts: try (first..<first + 5).map { try row.decode($0, as: Int64.self) }, version: try row.decode(first + 5, as: Int64.self))
  }

  /// The counts of the products that have a summary row.
  func counts(products: [String]) async throws -> [String: RatingCounts] {
    guard !products.isEmpty else { return [:] }
    var counts: [String: RatingCounts] = [:]
    for row in try await pool.query(
      "SELECT product_id, \(Self.countColumns.joined(separator: ", ")), version FROM reviews.rating_summaries WHERE product_id = ANY($1)",
      [products])
    {
      counts[try row.decode(0, as: String.self)] = try Self.counts(row, from: 1)
    }
    return counts
  }
}
