import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// The SQL of recommendations: recording purchases (RecordPurchases) into the counters of
/// migration 0002, and the one statement per kind that GetRecommendations runs. Every
/// recommendation reads `search_documents` for the products it returns, so archived and draft
/// products (which have no search document) are never recommended. See docs/CATALOG.md.
extension CatalogStore {
  /// One confirmed order, as RecordPurchases carries it (products merged, at least one).
  struct Purchase: Sendable {
    var order: UUID
    var customer: UUID
    var at: Date
    /// Distinct products with their units.
    var products: [(product: UUID, units: Int64)]
  }

  /// Records `purchase` and updates every counter in one transaction: the products' order and
  /// unit counts, the day's sales, the customer's bought products, and the pair counts among the
  /// first `pairCap` products of the order (most units first, then by id). Returns false,
  /// changing nothing, when the order was recorded before.
  func recordPurchase(_ purchase: Purchase, pairCap: Int) async throws -> Bool {
    let products = purchase.products.sorted { $0.product.uuidString < $1.product.uuidString }
    let ids = products.map(\.product)
    let units = products.map(\.units)
    let paired = purchase.products.sorted { ($0.units, $1.product.uuidString) > ($1.units, $0.product.uuidString) }
      .prefix(pairCap).map(\.product)
    return try await pool.withTransaction { tx in
      let inserted = try await tx.query(
        """
        INSERT INTO catalog.purchases (order_id, customer_id, purchased_at, product_count) VALUES ($1, $2, $3, $4)
        ON CONFLICT (order_id) DO NOTHING
        """, [purchase.order, purchase.customer, purchase.at, Int32(products.count)])
      guard inserted.affectedRows == 1 else { return false }
      // Rows in a stable order (by id), so that concurrent records lock shared rows alike.
      try await tx.query(
        """
        INSERT INTO catalog.product_purchases AS p (product_id, orders, units)
        SELECT x.product_id, 1, x.units FROM unnest($1::uuid[], $2::int8[]) AS x (product_id, units) ORDER BY x.product_id
        ON CONFLICT (product_id) DO UPDATE SET orders = p.orders + 1, units = p.units + EXCLUDED.units
        """, [ids, units])
      try await tx.query(
        """
        INSERT INTO catalog.daily_sales AS s (day, product_id, units, orders)
        SELECT ($3::timestamptz AT TIME ZONE 'UTC')::date, x.product_id, x.units, 1
        FROM unnest($1::uuid[], $2::int8[]) AS x (product_id, units) ORDER BY x.product_id
        ON CONFLICT (day, product_id) DO UPDATE SET units = s.units + EXCLUDED.units, orders = s.orders + 1
        """, [ids, units, purchase.at])
      try await tx.query(
        """
        INSERT INTO catalog.customer_products AS c (customer_id, product_id, orders, last_purchased_at)
        SELECT $1, x.product_id, 1, $3 FROM unnest($2::uuid[]) AS x (product_id) ORDER BY x.product_id
        ON CONFLICT (customer_id, product_id) DO UPDATE
        SET orders = c.orders + 1, last_purchased_at = greatest(c.last_purchased_at, EXCLUDED.last_purchased_at)
        """, [purchase.customer, ids, purchase.at])
      if paired.count > 1 {
        try await tx.query(
          """
          INSERT INTO catalog.co_purchases AS c (product_id, other_product_id, orders)
          SELECT a, b, 1 FROM unnest($1::uuid[]) AS a, unnest($1::uuid[]) AS b WHERE a <> b ORDER BY a, b
          ON CONFLICT (product_id, other_product_id) DO UPDATE SET orders = c.orders + 1
          """, [paired])
      }
      return true
    }
  }

  /// The search document columns a ProductSummary is made of, as `d` (in the order
  /// ``summary(_:from:)`` reads them).
  private static let summaryColumns = """
    d.product_id, d.seller_id, d.seller_name, d.title, d.price_minor, d.currency, d.image_url, d.rating_average, \
    d.rating_count, d.in_stock
    """

  /// The ProductSummary of a row holding the search document columns product_id, seller_id,
  /// seller_name, title, price_minor, currency, image_url, rating_average, rating_count and
  /// in_stock from column `start` on (searches and recommendations).
  static func summary(_ row: PostgresRow, from start: Int = 0) throws -> CommerceV1.ProductSummary {
    let currency = try row.decode(start + 5, as: String.self)
    return .with {
      $0.productId = (try? row.decode(start, as: UUID.self).lowercasedString) ?? ""
      $0.sellerId = (try? row.decode(start + 1, as: UUID.self).lowercasedString) ?? ""
      $0.sellerName = (try? row.decode(start + 2, as: String.self)) ?? ""
      $0.title = (try? row.decode(start + 3, as: String.self)) ?? ""
      $0.price = .with {
        $0.amountMinor = (try? row.decode(start + 4, as: Int64.self)) ?? 0
        $0.currency = currency
      }
      $0.imageUrl = (try? row.decode(start + 6, as: String.self)) ?? ""
      $0.ratingAverage = (try? row.decode(start + 7, as: Double.self)) ?? 0
      $0.ratingCount = (try? row.decode(start + 8, as: Int64.self)) ?? 0
      $0.inStock = (try? row.decode(start + 9, as: Bool.self)) ?? true
    }
  }

  /// A recommendation statement: its SQL and parameters (for ``explain(_:_:)`` too).
  struct RecommendationQuery: Sendable {
    var sql: String
    var parameters: [any PostgresEncodable]
  }

  /// Runs a recommendation statement; the products, best first.
  func recommend(_ query: RecommendationQuery) async throws -> [CommerceV1.ProductSummary] {
    try await pool.query(query.sql, query.parameters, planning: .perCall).map { try Self.summary($0) }
  }

  /// ALSO_BOUGHT: the products bought in at least `minimumSupport` orders with `anchor`, by
  /// cosine similarity co(a, b) / sqrt(n(a) * n(b)), then by co(a, b). One range of
  /// co_purchases' primary key, and a primary key lookup per partner.
  static func alsoBought(_ anchor: UUID, minimumSupport: Int64, inStockOnly: Bool, limit: Int) -> RecommendationQuery {
    RecommendationQuery(
      sql: """
        SELECT \(summaryColumns), c.orders / sqrt(a.orders::float8 * n.orders) AS score
        FROM catalog.co_purchases c
        JOIN catalog.product_purchases a ON a.product_id = c.product_id
        JOIN catalog.product_purchases n ON n.product_id = c.other_product_id
        JOIN catalog.search_documents d ON d.product_id = c.other_product_id
        WHERE c.product_id = $1 AND c.orders >= $2 AND (d.in_stock OR NOT $3)
        ORDER BY score DESC, c.orders DESC, d.product_id
        LIMIT $4
        """, parameters: [anchor, minimumSupport, inStockOnly, Int64(limit)])
  }

  /// SIMILAR: the other products of the anchor's category (and its descendants, through the
  /// category_path index), by title similarity (pg_trgm) plus half the Jaccard similarity of
  /// their attributes (`attributes` as search documents spell them, "name=value" in lower case).
  static func similar(
    to anchor: UUID, title: String, category: UUID, attributes: [String], inStockOnly: Bool, limit: Int
  ) -> RecommendationQuery {
    RecommendationQuery(
      sql: """
        SELECT \(summaryColumns),
          public.similarity(lower(d.title), lower($2))
            + 0.5 * cardinality(ARRAY(SELECT unnest(d.attributes) INTERSECT SELECT unnest($4::text[])))::float8
              / greatest(1, cardinality(ARRAY(SELECT unnest(d.attributes) UNION SELECT unnest($4::text[])))) AS score
        FROM catalog.search_documents d
        WHERE d.category_path @> ARRAY[$3::uuid] AND d.product_id <> $1 AND (d.in_stock OR NOT $5)
        ORDER BY score DESC, d.product_id
        LIMIT $6
        """, parameters: [anchor, title, category, attributes, inStockOnly, Int64(limit)])
  }

  /// TRENDING: the most units sold over the UTC days from `since` on, in `category` (and its
  /// descendants) when given; never `excluding`, nor (with `customer`) what that customer
  /// bought. A range of daily_sales' primary key.
  static func trending(
    since: Date, category: UUID?, excluding: [UUID], customer: UUID?, inStockOnly: Bool, limit: Int
  ) -> RecommendationQuery {
    var parameters: [any PostgresEncodable] = [since, excluding, inStockOnly, Int64(limit)]
    var conditions = ""
    if let category {
      parameters.append(category)
      conditions += " AND d.category_path @> ARRAY[$\(parameters.count)::uuid]"
    }
    if let customer {
      parameters.append(customer)
      conditions +=
        " AND NOT EXISTS (SELECT 1 FROM catalog.customer_products b WHERE b.customer_id = $\(parameters.count) AND b.product_id = d.product_id)"
    }
    return RecommendationQuery(
      sql: """
        SELECT \(summaryColumns), sum(s.units) AS units
        FROM catalog.daily_sales s
        JOIN catalog.search_documents d ON d.product_id = s.product_id
        WHERE s.day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND d.product_id <> ALL($2::uuid[]) AND (d.in_stock OR NOT $3)\(conditions)
        GROUP BY d.product_id
        ORDER BY units DESC, d.product_id
        LIMIT $4
        """, parameters: parameters)
  }

  /// PERSONALIZED: products often bought with the customer's 50 most recently bought products
  /// and `seeds` (their cart), by the sum of their ALSO_BOUGHT scores; never what
  /// the customer bought, nor the seeds themselves.
  static func personalized(
    for customer: UUID, seeds: [UUID], minimumSupport: Int64, inStockOnly: Bool, limit: Int
  ) -> RecommendationQuery {
    RecommendationQuery(
      sql: """
        WITH seeds AS (
          (SELECT product_id FROM catalog.customer_products WHERE customer_id = $1 ORDER BY last_purchased_at DESC LIMIT 50)
          UNION SELECT unnest($2::uuid[])
        )
        SELECT \(summaryColumns), sum(c.orders / sqrt(a.orders::float8 * n.orders)) AS score
        FROM seeds s
        JOIN catalog.co_purchases c ON c.product_id = s.product_id
        JOIN catalog.product_purchases a ON a.product_id = c.product_id
        JOIN catalog.product_purchases n ON n.product_id = c.other_product_id
        JOIN catalog.search_documents d ON d.product_id = c.other_product_id
        WHERE c.orders >= $3 AND d.product_id <> ALL($2::uuid[]) AND (d.in_stock OR NOT $4)
          AND NOT EXISTS (SELECT 1 FROM catalog.customer_products b WHERE b.customer_id = $1 AND b.product_id = d.product_id)
        GROUP BY d.product_id
        ORDER BY score DESC, d.product_id
        LIMIT $5
        """, parameters: [customer, seeds, minimumSupport, inStockOnly, Int64(limit)])
  }
}
