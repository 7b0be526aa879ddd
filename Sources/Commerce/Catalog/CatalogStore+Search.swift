import CommerceAPI
import Messages
import Foundation
import Postgres

extension CatalogStore {
  /// The statements of one product search, built from a validated request.
  ///
  /// - The page statement returns the page (one row more than asked, to know whether another
  ///   page follows) and the number of matches, counted exactly up to 10,001, in one round trip.
  /// - The facet statement computes every facet over the products matching the query and the
  ///   seller filter, materialised once; each facet then applies every filter except its own.
  struct SearchPlan: Sendable {
    /// What to search for; every array is already normalised.
    struct Criteria: Sendable, Hashable {
      /// The text query in to_tsquery syntax; nil matches every product.
      var tsquery: String?
      /// The query as typed, lower-cased, for ranking an exact title first.
      var exactTitle: String
      var sellerIDs: [UUID] = []
      var categoryIDs: [UUID] = []
      var minPrice: Int64?
      var maxPrice: Int64?
      var minRating: Double?
      var inStockOnly = false
      /// Attribute filters: the name, and the accepted "name=value" keys (lower case).
      var attributeFilters: [(name: String, keys: [String])] = []
      var sort: Sort
      /// The attribute names to count values of.
      var facetAttributeNames: [String] = []

      static func == (a: Criteria, b: Criteria) -> Bool {
        a.tsquery == b.tsquery && a.exactTitle == b.exactTitle && a.sellerIDs == b.sellerIDs && a.categoryIDs == b.categoryIDs
          && a.minPrice == b.minPrice && a.maxPrice == b.maxPrice && a.minRating == b.minRating && a.inStockOnly == b.inStockOnly
          && a.attributeFilters.map(\.name) == b.attributeFilters.map(\.name)
          && a.attributeFilters.map(\.keys) == b.attributeFilters.map(\.keys) && a.sort == b.sort
          && a.facetAttributeNames == b.facetAttributeNames
      }

      func hash(into hasher: inout Hasher) {
        hasher.combine(tsquery)
        hasher.combine(sort)
      }
    }

    enum Sort: String, Sendable, Hashable {
      case relevance, priceAscending, priceDescending, newest, rating

      /// How many values a page position holds.
      var positionCount: Int {
        switch self {
        case .relevance: 5
        case .priceAscending, .priceDescending, .newest: 2
        case .rating: 3
        }
      }
    }

    /// One facet count: kind "category", "price", "rating", "attribute=<name>" or "in_stock".
    struct FacetRow: Sendable, Hashable {
      var kind: String
      var key: String
      var label: String
      var count: Int64
    }

    /// Exact counts stop here; beyond it the planner estimates.
    static let exactCountLimit: Int64 = 10_001

    /// Friendly price band bounds in minor units: 1, 2, 5, 10, 20, 50, ... The price facet
    /// counts products per band (`width_bucket` against these), and the service merges adjacent
    /// bands into about five buckets.
    static let priceBandBounds: [Int64] = {
      var bounds: [Int64] = []
      var power: Int64 = 1
      while power <= 1_000_000_000_000_000 {
        bounds += [power, 2 * power, 5 * power]
        power *= 10
      }
      return bounds
    }()

    var pageSQL = ""
    var pageParameters: [any PostgresEncodable] = []
    var countSQL = ""
    var countParameters: [any PostgresEncodable] = []
    var facetSQL = ""
    var facetParameters: [any PostgresEncodable] = []

    /// Binds parameters while a statement is written.
    private struct Binder {
      var parameters: [any PostgresEncodable] = []

      mutating func bind(_ value: any PostgresEncodable) -> String {
        parameters.append(value)
        return "$\(parameters.count)"
      }
    }

    /// The filter conditions of `criteria`, by the facet they belong to.
    private struct Conditions {
      var text: String?
      var sellers: String?
      var categories: String?
      var price: String?
      var rating: String?
      var stock: String?
      var attributes: [String] = []

      init(_ criteria: Criteria, _ binder: inout Binder) {
        if let tsquery = criteria.tsquery {
          text = "d.document @@ to_tsquery('catalog.search', \(binder.bind(tsquery)))"
        }
        if !criteria.sellerIDs.isEmpty { sellers = "d.seller_id = ANY(\(binder.bind(criteria.sellerIDs))::uuid[])" }
        if !criteria.categoryIDs.isEmpty { categories = "d.category_path && \(binder.bind(criteria.categoryIDs))::uuid[]" }
        var price: [String] = []
        if let minPrice = criteria.minPrice { price.append("d.price_minor >= \(binder.bind(minPrice))::int8") }
        if let maxPrice = criteria.maxPrice { price.append("d.price_minor <= \(binder.bind(maxPrice))::int8") }
        if !price.isEmpty { self.price = price.joined(separator: " AND ") }
        if let minRating = criteria.minRating { rating = "d.rating_average >= \(binder.bind(minRating))::float8" }
        if criteria.inStockOnly { stock = "d.in_stock" }
        attributes = criteria.attributeFilters.map { "d.attributes && \(binder.bind($0.keys))::text[]" }
      }

      var all: [String] { [text, sellers, categories, price, rating, stock].compactMap { $0 } + attributes }
    }

    init(_ criteria: Criteria, after position: [String]?, limit: Int) {
      // The page, with the capped count.
      var binder = Binder()
      let conditions = Conditions(criteria, &binder)
      let whereAll = conditions.all.isEmpty ? "true" : conditions.all.joined(separator: " AND ")
      let keys: [(expression: String, cast: String, descending: Bool)]
      switch criteria.sort {
      case .relevance:
        let exact = "(lower(d.title) = \(binder.bind(criteria.exactTitle)))::int"
        let rank = criteria.tsquery.map { "ts_rank('{0.1, 0.2, 0.4, 1.0}', d.document, to_tsquery('catalog.search', \(binder.bind($0))))::float8" } ?? "0::float8"
        keys = [
          (exact, "int", true), (rank, "float8", true), ("d.rating_average", "float8", true), ("d.created_at", "timestamptz", true),
          ("d.product_id", "uuid", true),
        ]
      case .priceAscending: keys = [("d.price_minor", "int8", false), ("d.product_id", "uuid", false)]
      case .priceDescending: keys = [("d.price_minor", "int8", true), ("d.product_id", "uuid", false)]
      case .newest: keys = [("d.created_at", "timestamptz", true), ("d.product_id", "uuid", true)]
      case .rating:
        keys = [("d.rating_average", "float8", true), ("d.rating_count", "int8", true), ("d.product_id", "uuid", false)]
      }
      // (k1, k2, ...) after the page position (v1, v2, ...) in the order's directions, as nested
      // comparisons over `columns` (the key expressions, or their names in a derived table).
      let values = position.flatMap { $0.count == keys.count ? zip(keys, $0).map { key, value in "\(binder.bind(value))::\(key.cast)" } : nil }
      func keyset(_ columns: [String]) -> String {
        guard let values else { return "true" }
        var clause = ""
        for index in keys.indices.reversed() {
          let comparison = "\(columns[index]) \(keys[index].descending ? "<" : ">") \(values[index])"
          clause = clause.isEmpty ? comparison : "(\(comparison) OR (\(columns[index]) = \(values[index]) AND \(clause)))"
        }
        return clause
      }
      let order = keys.indices.map { "k\($0) \(keys[$0].descending ? "DESC" : "ASC")" }.joined(separator: ", ")
      let keyColumns = keys.indices.map { "\(keys[$0].expression) AS k\($0)" }.joined(separator: ", ")
      let position = "ARRAY[" + keys.indices.map { "k\($0)::text" }.joined(separator: ", ") + "]"
      let pageLimit = binder.bind(Int64(limit))
      if criteria.sort == .relevance {
        // Ranking reads every match anyway: read them once, with their sort keys, for the page
        // and the count both (the count is then exact at any size). Only the id and the keys are
        // kept for every match; the page's own columns are read for its rows alone. Keeping every
        // column (about 250 bytes a match) made a broad query's matches spill out of work_mem
        // and cost 40% more (docs/PERFORMANCE.md, "The slowest query of the mix").
        pageSQL = """
          WITH m AS MATERIALIZED (
            SELECT d.product_id, \(keyColumns)
            FROM catalog.search_documents d
            WHERE \(whereAll)
          )
          SELECT t.total, d.product_id, d.seller_id, d.seller_name, d.title, d.price_minor, d.currency, d.image_url, \
          d.rating_average, d.rating_count, d.in_stock, \(position)
          FROM (SELECT count(*) AS total FROM m) t
          LEFT JOIN LATERAL (SELECT * FROM m WHERE \(keyset(keys.indices.map { "m.k\($0)" })) ORDER BY \(order) LIMIT \(pageLimit)) h ON true
          LEFT JOIN catalog.search_documents d ON d.product_id = h.product_id
          ORDER BY \(order)
          """
      } else {
        let countLimit = binder.bind(Self.exactCountLimit)
        pageSQL = """
        SELECT t.total, h.product_id, h.seller_id, h.seller_name, h.title, h.price_minor, h.currency, h.image_url, \
        h.rating_average, h.rating_count, h.in_stock, \(position)
        FROM (SELECT count(*) AS total FROM (SELECT 1 FROM catalog.search_documents d WHERE \(whereAll) LIMIT \(countLimit)) x) t
        LEFT JOIN LATERAL (
          SELECT d.product_id, d.seller_id, d.seller_name, d.title, d.price_minor, d.currency, d.image_url, d.rating_average, \
          d.rating_count, d.in_stock, \(keyColumns)
          FROM catalog.search_documents d
          WHERE \(whereAll) AND \(keyset(keys.map(\.expression)))
          ORDER BY \(order)
          LIMIT \(pageLimit)
        ) h ON true
        ORDER BY \(order)
        """
      }
      pageParameters = binder.parameters

      // The count, for the planner's estimate beyond the cap.
      var countBinder = Binder()
      let countConditions = Conditions(criteria, &countBinder)
      countSQL =
        "SELECT 1 FROM catalog.search_documents d WHERE "
        + (countConditions.all.isEmpty ? "true" : countConditions.all.joined(separator: " AND "))
      countParameters = countBinder.parameters

      // The facets.
      var facetBinder = Binder()
      let facetConditions = Conditions(criteria, &facetBinder)
      let base = [facetConditions.text, facetConditions.sellers].compactMap { $0 }
      let flags =
        [
          "\(facetConditions.categories ?? "true") AS c_ok", "\(facetConditions.price ?? "true") AS p_ok",
          "\(facetConditions.rating ?? "true") AS r_ok", "\(facetConditions.stock ?? "true") AS s_ok",
        ] + facetConditions.attributes.indices.map { "\(facetConditions.attributes[$0]) AS a\($0)_ok" }
      let attributeFlags = facetConditions.attributes.indices.map { "a\($0)_ok" }
      func allBut(_ excluded: String, attribute name: String? = nil) -> String {
        var terms = ["c_ok", "p_ok", "r_ok", "s_ok"].filter { $0 != excluded }
        for (index, filter) in criteria.attributeFilters.enumerated() where filter.name != name {
          terms.append(attributeFlags[index])
        }
        return terms.joined(separator: " AND ")
      }
      let bounds = facetBinder.bind(Self.priceBandBounds)
      // The category paths are unnested in the select list (a ProjectSet streams them), not in
      // FROM: a function scan per match builds a tuplestore for each one, three times the cost.
      // The rating buckets are four counts of one pass, not a pass per bucket.
      var parts = [
        """
        (SELECT 'category', c::text, coalesce((SELECT k.name FROM catalog.categories k WHERE k.id = c), ''), count(*)
         FROM (SELECT unnest(category_path) AS c FROM base WHERE \(allBut("c_ok"))) paths
         GROUP BY c ORDER BY count(*) DESC, c LIMIT 50)
        """,
        """
        (SELECT 'price', width_bucket(price_minor, \(bounds)::int8[])::text, '', count(*)
         FROM base WHERE \(allBut("p_ok")) GROUP BY 2)
        """,
        """
        (SELECT 'rating', v.m::text, '', v.c
         FROM (SELECT count(*) FILTER (WHERE rating_average >= 4) AS c4, count(*) FILTER (WHERE rating_average >= 3) AS c3,
                 count(*) FILTER (WHERE rating_average >= 2) AS c2, count(*) FILTER (WHERE rating_average >= 1) AS c1
               FROM base WHERE \(allBut("r_ok"))) r,
           LATERAL (VALUES (4, r.c4), (3, r.c3), (2, r.c2), (1, r.c1)) AS v (m, c))
        """,
        "(SELECT 'in_stock', '', '', count(*) FROM base WHERE \(allBut("s_ok")) AND in_stock)",
      ]
      // Every requested attribute's values in one pass over the matches' labels ("name=Value"),
      // each name under every filter but its own, the top 50 of each; kind "attribute=<name>".
      // (One pass per name read every match's labels once per name: twice the time for two.)
      let names = Array(Set(criteria.facetAttributeNames)).sorted()
      if !names.isEmpty {
        let conditions = names.map { allBut("", attribute: $0) }
        let condition =
          Set(conditions).count == 1
          ? conditions[0]
          : "CASE split_part(l, '=', 1) "
            + zip(names, conditions).map { "WHEN \(facetBinder.bind($0)) THEN \($1)" }.joined(separator: " ") + " END"
        parts.append(
          """
          (SELECT 'attribute=' || n, k, label, c FROM (
             SELECT n, lower(v) AS k, min(v) AS label, count(*) AS c,
               row_number() OVER (PARTITION BY n ORDER BY count(*) DESC, lower(v)) AS r
             FROM (SELECT split_part(l, '=', 1) AS n, substr(l, strpos(l, '=') + 1) AS v
                   FROM base, unnest(base.attribute_labels) AS l
                   WHERE split_part(l, '=', 1) = ANY(\(facetBinder.bind(names))::text[]) AND \(condition)) a
             GROUP BY n, lower(v)) g
           WHERE r <= 50 ORDER BY n, r)
          """)
      }
      facetSQL = """
        WITH base AS MATERIALIZED (
          SELECT d.product_id, d.category_path, d.price_minor, d.rating_average, d.in_stock, d.attribute_labels, \
        \(flags.joined(separator: ", "))
          FROM catalog.search_documents d WHERE \(base.isEmpty ? "true" : base.joined(separator: " AND "))
        )
        \(parts.joined(separator: "\nUNION ALL\n"))
        """
      facetParameters = facetBinder.parameters
    }
  }
}
