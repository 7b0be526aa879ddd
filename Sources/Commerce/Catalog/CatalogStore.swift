import CommerceAPI
import Messages
import NIOCore
import CommerceKit
import Foundation
import Postgres

/// All SQL of schema `catalog`. Each method is one statement or one transaction named for what
/// it does; values always travel as parameters. Every change to a product, its category tree
/// position, stock or rating refreshes the product's search document in the same transaction and
/// announces the product on ``invalidationChannel`` when it commits.
struct CatalogStore: Sendable {
  let pool: PostgresPool

  /// The NOTIFY channel on which changed product ids (or "*" for all) are announced; every
  /// process's product cache listens to it.
  static let invalidationChannel = "catalog_products"

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "a catalog row holds a value the code does not know")
    var description: String
  }

  // MARK: Products

  private static let productColumns = """
    p.id, p.seller_id, p.title, p.details, p.category_id, p.price_minor, p.currency, p.compare_at_minor, p.image_urls, \
    p.attribute_names, p.attribute_values, p.sku, p.status, p.version, p.created_at, p.updated_at, p.archived_at
    """

  private static func product(_ row: PostgresRow, from start: Int = 0) throws -> ProductRecord {
    let currency = try row.decode(start + 6, as: String.self)
    let names = try row.decode(start + 9, as: [String].self)
    let values = try row.decode(start + 10, as: [String].self)
    guard let status = ProductRecord.Status(rawValue: try row.decode(start + 12, as: String.self)), names.count == values.count else {
      throw StoreError.corruptRow
    }
    return ProductRecord(
      id: try row.decode(start, as: UUID.self),
      sellerID: try row.decode(start + 1, as: UUID.self),
      title: try row.decode(start + 2, as: String.self),
      details: try row.decode(start + 3, as: String.self),
      categoryID: try row.decode(start + 4, as: UUID.self),
      price: Money(amountMinor: try row.decode(start + 5, as: Int64.self), currency: currency),
      compareAtPrice: try row.decode(start + 7, as: Int64?.self).map { Money(amountMinor: $0, currency: currency) },
      imageURLs: try row.decode(start + 8, as: [String].self),
      attributes: zip(names, values).map { ProductRecord.Attribute(name: $0, value: $1) },
      sku: try row.decode(start + 11, as: String.self),
      status: status,
      version: try row.decode(start + 13, as: Int64.self),
      createdAt: try row.decode(start + 14, as: Date.self),
      updatedAt: try row.decode(start + 15, as: Date.self),
      archivedAt: try row.decode(start + 16, as: Date?.self))
  }

  private static func productParameters(_ p: ProductRecord) -> [any PostgresEncodable] {
    [
      p.id, p.sellerID, p.title, p.details, p.categoryID, p.price.amountMinor, p.price.currency, p.compareAtPrice?.amountMinor,
      p.imageURLs, p.attributes.map(\.name), p.attributes.map(\.value), p.sku, p.status.rawValue, p.version, p.createdAt,
      p.updatedAt, p.archivedAt,
    ]
  }

  enum CreateOutcome: Sendable {
    case created(ProductRecord)
    case skuTaken
    case unknownCategory
  }

  /// Inserts a product (and its search document when active).
  func createProduct(_ product: ProductRecord, in tx: PostgresTransaction) async throws -> CreateOutcome {
    let rows = try await tx.query(
      """
      INSERT INTO catalog.products (id, seller_id, title, details, category_id, price_minor, currency, compare_at_minor, \
      image_urls, attribute_names, attribute_values, sku, status, version, created_at, updated_at, archived_at)
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
      WHERE EXISTS (SELECT 1 FROM catalog.categories WHERE id = $5)
      ON CONFLICT (seller_id, sku) WHERE sku <> '' DO NOTHING
      RETURNING id
      """, Self.productParameters(product))
    if rows.isEmpty {
      let category = try await tx.query("SELECT 1 FROM catalog.categories WHERE id = $1", [product.categoryID])
      return category.isEmpty ? .unknownCategory : .skuTaken
    }
    if product.status == .active {
      try await countActiveProducts(of: product.sellerID, by: 1, in: tx)
    }
    try await refreshDocuments([product.id], words: true, in: tx)
    return .created(product)
  }

  /// The product with `id`, or nil.
  func product(_ id: UUID) async throws -> ProductRecord? {
    try await pool.query("SELECT \(Self.productColumns) FROM catalog.products p WHERE p.id = $1", [id]).first.map { try Self.product($0) }
  }

  enum ChangeOutcome: Sendable {
    case changed(ProductRecord)
    case unchanged(ProductRecord)
    case notFound
    case skuTaken
    case unknownCategory
  }

  /// Locks the product, lets `change` decide its new state from the current one (throwing to
  /// refuse, returning nil to leave it as it is), and stores it with the next version.
  func changeProduct(
    _ id: UUID, now: Date, _ change: @Sendable (ProductRecord) throws -> ProductRecord?
  ) async throws -> ChangeOutcome {
    try await pool.withTransaction { tx in
      guard
        let row = try await tx.query("SELECT \(Self.productColumns) FROM catalog.products p WHERE p.id = $1 FOR UPDATE", [id]).first
      else { return .notFound }
      let current = try Self.product(row)
      guard var next = try change(current) else { return .unchanged(current) }
      if next.categoryID != current.categoryID,
        try await tx.query("SELECT 1 FROM catalog.categories WHERE id = $1", [next.categoryID]).isEmpty
      {
        return .unknownCategory
      }
      if !next.sku.isEmpty, next.sku != current.sku,
        try await !tx.query(
          "SELECT 1 FROM catalog.products WHERE seller_id = $1 AND sku = $2 AND id <> $3", [current.sellerID, next.sku, id]
        ).isEmpty
      {
        return .skuTaken
      }
      next.version = current.version + 1
      next.updatedAt = max(now, current.updatedAt)
      try await tx.query(
        """
        UPDATE catalog.products SET title = $3, details = $4, category_id = $5, price_minor = $6, currency = $7, \
        compare_at_minor = $8, image_urls = $9, attribute_names = $10, attribute_values = $11, sku = $12, status = $13, \
        version = $14, updated_at = $16, archived_at = $17
        WHERE id = $1 AND seller_id = $2 AND created_at = $15
        """, Self.productParameters(next))
      if (next.status == .active) != (current.status == .active) {
        try await countActiveProducts(of: current.sellerID, by: next.status == .active ? 1 : -1, in: tx)
      }
      let textChanged =
        next.title != current.title || next.details != current.details || next.attributes != current.attributes
        || next.categoryID != current.categoryID
      try await refreshDocuments([id], words: textChanged, in: tx)
      return .changed(next)
    }
  }

  /// Moves the seller's count of active products (shown on every product page) by `delta`, in
  /// the transaction that changes a product's status.
  private func countActiveProducts(of seller: UUID, by delta: Int64, in tx: PostgresTransaction) async throws {
    try await tx.query("UPDATE catalog.sellers SET active_products = active_products + $2 WHERE id = $1", [seller, delta])
  }

  /// One page of a seller's products, newest first, after `after` (created_at text, id).
  func sellerProducts(
    seller: UUID, statuses: [String], after: (String, UUID)?, limit: Int
  ) async throws -> [(product: ProductRecord, createdAtText: String)] {
    var sql = "SELECT \(Self.productColumns), p.created_at::text FROM catalog.products p WHERE p.seller_id = $1"
    var parameters: [any PostgresEncodable] = [seller]
    if !statuses.isEmpty {
      parameters.append(statuses)
      sql += " AND p.status = ANY($\(parameters.count))"
    }
    if let after {
      parameters.append(after.0)
      parameters.append(after.1)
      sql += " AND (p.created_at, p.id) < ($\(parameters.count - 1)::timestamptz, $\(parameters.count))"
    }
    parameters.append(Int64(limit))
    sql += " ORDER BY p.created_at DESC, p.id DESC LIMIT $\(parameters.count)"
    return try await pool.query(sql, parameters).map { (try Self.product($0), try $0.decode(17, as: String.self)) }
  }

  // MARK: Product pages

  /// Everything a product page shows, as of now.
  struct ProductPage: Sendable {
    var product: ProductRecord
    var seller: CommerceV1.SellerProfile
    var rating: CommerceV1.RatingSummary
    var availability: CommerceV1.StockAvailability
    var breadcrumbs: [CommerceV1.Category]
    /// The GetProduct answer and the compact view, built once when the page is loaded, so a
    /// cached page costs no conversion.
    var response = CommerceV1.GetProductResponse()
    var summary = CommerceV1.ProductSummary()
    /// `response` encoded, for a page kept in the cache (``encoded()``): GetProduct's immediate
    /// path sends these bytes as they are.
    private(set) var encodedResponse: ByteBuffer?

    init(
      product: ProductRecord, seller: CommerceV1.SellerProfile, rating: CommerceV1.RatingSummary,
      availability: CommerceV1.StockAvailability, breadcrumbs: [CommerceV1.Category]
    ) {
      self.product = product
      self.seller = seller
      self.rating = rating
      self.availability = availability
      self.breadcrumbs = breadcrumbs
      self.response = .with {
        $0.product = product.proto
        $0.seller = seller
        $0.ratingSummary = rating
        $0.availability = availability
        $0.breadcrumbs = breadcrumbs
      }
      self.summary = Self.summary(product, seller: seller, rating: rating, availability: availability)
    }

    private static func summary(
      _ product: ProductRecord, seller: CommerceV1.SellerProfile, rating: CommerceV1.RatingSummary,
      availability: CommerceV1.StockAvailability
    ) -> CommerceV1.ProductSummary {
      .with {
        $0.productId = product.id.lowercasedString
        $0.title = product.title
        $0.price = product.price.proto
        $0.imageUrl = product.imageURLs.first ?? ""
        $0.ratingAverage = rating.average
        $0.ratingCount = rating.count
        $0.inStock = availability.availability != .outOfStock
        $0.sellerId = product.sellerID.lowercasedString
        $0.sellerName = seller.displayName
      }
    }

    /// The same page with `available` units (encoded again if this one was).
    func withAvailable(_ available: Int64) -> ProductPage {
      let page = ProductPage(
        product: product, seller: seller, rating: rating,
        availability: .with {
          $0.availability = CatalogStore.availability(available)
          $0.availableQuantity = available
        }, breadcrumbs: breadcrumbs)
      return encodedResponse == nil ? page : page.encoded()
    }

    /// The same page with its GetProduct answer encoded once, for the cache.
    func encoded() -> ProductPage {
      var page = self
      var bytes = ByteBuffer()
      // A message built from stored rows always encodes; if one did not, the page keeps no
      // bytes and its calls take the async path, which reports the error.
      page.encodedResponse = (try? response.encode(into: &bytes)).map { bytes }
      return page
    }

    var approximateSize: Int {
      2 * product.approximateSize + 256 + seller.displayName.utf8.count
        + breadcrumbs.reduce(0) { $0 + 160 + $1.name.utf8.count + $1.slug.utf8.count + 40 * $1.ancestorCategoryIds.count }
        + (encodedResponse?.readableBytes ?? 0)
    }
  }

  /// The pages of the products with these ids (those that exist), in one statement.
  func productPages(_ ids: [UUID]) async throws -> [UUID: ProductPage] {
    let match = PostgresKeyMatch("p.id", parameter: 1, ids)
    let rows = try await pool.query(
      """
      SELECT \(Self.productColumns),
        s.display_name, s.join_time, s.active_products,
        r.average, r.count, r.histogram,
        st.available,
        b.ids, b.parents, b.names, b.slugs, b.depths
      FROM catalog.products p
      JOIN catalog.sellers s ON s.id = p.seller_id
      JOIN catalog.categories c ON c.id = p.category_id
      LEFT JOIN catalog.rating_summaries r ON r.product_id = p.id
      LEFT JOIN catalog.stock_levels st ON st.product_id = p.id
      CROSS JOIN LATERAL (
        SELECT array_agg(k.id ORDER BY k.depth) AS ids, array_agg(coalesce(k.parent_id::text, '') ORDER BY k.depth) AS parents,
          array_agg(k.name ORDER BY k.depth) AS names, array_agg(k.slug ORDER BY k.depth) AS slugs,
          array_agg(k.depth ORDER BY k.depth) AS depths
        FROM catalog.categories k WHERE k.id = ANY (c.ancestors || c.id)
      ) b
      WHERE \(match.condition)
      """, [match.value])
    var pages: [UUID: ProductPage] = [:]
    for row in rows {
      let product = try Self.product(row)
      let seller = CommerceV1.SellerProfile.with {
        $0.sellerId = product.sellerID.lowercasedString
        $0.displayName = (try? row.decode(17, as: String.self)) ?? ""
        $0.joinTime = .init((try? row.decode(18, as: Date.self)) ?? product.createdAt)
        $0.activeProductCount = (try? row.decode(19, as: Int64.self)) ?? 0
      }
      let histogram = try row.decode(22, as: [Int64]?.self) ?? [0, 0, 0, 0, 0]
      let rating = CommerceV1.RatingSummary.with {
        $0.productId = product.id.lowercasedString
        $0.average = (try? row.decode(20, as: Double?.self)).flatMap { $0 } ?? 0
        $0.count = (try? row.decode(21, as: Int64?.self)).flatMap { $0 } ?? 0
        $0.histogram = histogram.enumerated().map { index, count in
          .with {
            $0.rating = Int32(index + 1)
            $0.count = count
          }
        }
      }
      let available = try row.decode(23, as: Int64?.self)
      let availability = CommerceV1.StockAvailability.with {
        $0.availability = Self.availability(available)
        $0.availableQuantity = available ?? 0
      }
      let ids = try row.decode(24, as: [UUID].self)
      let parents = try row.decode(25, as: [String].self)
      let names = try row.decode(26, as: [String].self)
      let slugs = try row.decode(27, as: [String].self)
      let depths = try row.decode(28, as: [Int32].self)
      let breadcrumbs = ids.indices.map { index in
        CommerceV1.Category.with {
          $0.categoryId = ids[index].lowercasedString
          $0.parentCategoryId = parents[index]
          $0.name = names[index]
          $0.slug = slugs[index]
          $0.depth = depths[index]
          $0.ancestorCategoryIds = ids[..<index].map(\.lowercasedString)
        }
      }
      pages[product.id] = ProductPage(
        product: product, seller: seller, rating: rating, availability: availability, breadcrumbs: breadcrumbs)
    }
    return pages
  }

  /// The coarse level of `available` units (nil: not known).
  static func availability(_ available: Int64?) -> CommerceV1.Availability {
    guard let available else { return .unspecified }
    return available <= 0 ? .outOfStock : available <= 5 ? .lowStock : .inStock
  }

  // MARK: Sellers

  struct Seller: Sendable {
    var id: UUID
    var displayName: String
    var refreshedAt: Date
  }

  func seller(_ id: UUID) async throws -> Seller? {
    try await pool.query("SELECT id, display_name, refreshed_at FROM catalog.sellers WHERE id = $1", [id]).first.map {
      Seller(id: try $0.decode(0, as: UUID.self), displayName: try $0.decode(1, as: String.self), refreshedAt: try $0.decode(2, as: Date.self))
    }
  }

  /// Records a seller's public name; the join time is the first time the catalog saw them.
  /// A changed name reaches the search documents of their products.
  func saveSeller(id: UUID, displayName: String, now: Date) async throws {
    try await pool.withTransaction { tx in
      let rows = try await tx.query(
        """
        INSERT INTO catalog.sellers (id, display_name, join_time, refreshed_at) VALUES ($1, $2, $3, $3)
        ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, refreshed_at = EXCLUDED.refreshed_at
        RETURNING (SELECT display_name FROM catalog.sellers WHERE id = $1) IS DISTINCT FROM $2
        """, [id, displayName, now])
      if try rows.first?.decode(0, as: Bool.self) == true {
        let products = try await tx.query(
          "SELECT id FROM catalog.products WHERE seller_id = $1 AND status = 'ACTIVE'", [id]
        ).map { try $0.decode(0, as: UUID.self) }
        if !products.isEmpty { try await refreshDocuments(products, words: false, in: tx) }
      }
    }
  }

  // MARK: Categories

  private static let categoryColumns = "c.id, c.parent_id, c.name, c.slug, c.depth, c.ancestors"

  private static func category(_ row: PostgresRow, count: Int64 = 0) throws -> CommerceV1.Category {
    let id = try row.decode(0, as: UUID.self)
    let parent = try row.decode(1, as: UUID?.self)
    let name = try row.decode(2, as: String.self)
    let slug = try row.decode(3, as: String.self)
    let depth = try row.decode(4, as: Int32.self)
    let ancestors = try row.decode(5, as: [UUID].self)
    return .with {
      $0.categoryId = id.lowercasedString
      $0.parentCategoryId = parent?.lowercasedString ?? ""
      $0.name = name
      $0.slug = slug
      $0.depth = depth
      $0.ancestorCategoryIds = ancestors.map(\.lowercasedString)
      $0.productCount = count
    }
  }

  enum CategoryOutcome: Sendable {
    case created(CommerceV1.Category)
    case unknownParent
    case slugTaken
    case tooDeep
  }

  /// Adds a category under `parent` (nil: a root).
  func createCategory(id: UUID, parent: UUID?, name: String, slug: String, in tx: PostgresTransaction) async throws
    -> CategoryOutcome
  {
    var ancestors: [UUID] = []
    var sortPath: [String] = []
    if let parent {
      guard let row = try await tx.query("SELECT ancestors, sort_path, depth FROM catalog.categories WHERE id = $1", [parent]).first
      else { return .unknownParent }
      guard try row.decode(2, as: Int32.self) < 5 else { return .tooDeep }
      ancestors = try row.decode(0, as: [UUID].self) + [parent]
      sortPath = try row.decode(1, as: [String].self)
    }
    sortPath.append(name.lowercased() + "\u{1F}" + id.lowercasedString)
    let rows = try await tx.query(
      """
      INSERT INTO catalog.categories (id, parent_id, name, slug, depth, ancestors, sort_path) VALUES ($1, $2, $3, $4, $5, $6, $7)
      ON CONFLICT (slug) DO NOTHING
      RETURNING id, parent_id, name, slug, depth, ancestors
      """, [id, parent, name, slug, Int32(ancestors.count), ancestors, sortPath])
    guard let row = rows.first else { return .slugTaken }
    return .created(try Self.category(row))
  }

  func categoryExists(_ id: UUID) async throws -> Bool {
    try await !pool.query("SELECT 1 FROM catalog.categories WHERE id = $1", [id]).isEmpty
  }

  /// One page of categories in depth-first order: the descendants (or children) of `parent`,
  /// or the whole tree (or its roots), after the sort position `after`.
  func categories(parent: UUID?, childrenOnly: Bool, after: [String]?, limit: Int) async throws -> [(CommerceV1.Category, [String])] {
    var sql = "SELECT \(Self.categoryColumns), c.sort_path FROM catalog.categories c WHERE true"
    var parameters: [any PostgresEncodable] = []
    if let parent {
      parameters.append(parent)
      sql += childrenOnly ? " AND c.parent_id = $1" : " AND $1 = ANY (c.ancestors)"
    } else if childrenOnly {
      sql += " AND c.parent_id IS NULL"
    }
    if let after {
      parameters.append(after)
      sql += " AND c.sort_path > $\(parameters.count)"
    }
    parameters.append(Int64(limit))
    sql += " ORDER BY c.sort_path LIMIT $\(parameters.count)"
    return try await pool.query(sql, parameters).map { row in (try Self.category(row), try row.decode(6, as: [String].self)) }
  }

  /// How many active products each category holds, its descendants included.
  func categoryProductCounts() async throws -> [String: Int64] {
    let rows = try await pool.query(
      "SELECT c, count(*) FROM catalog.search_documents d, unnest(d.category_path) c GROUP BY c")
    var counts: [String: Int64] = [:]
    for row in rows { counts[try row.decode(0, as: UUID.self).lowercasedString] = try row.decode(1, as: Int64.self) }
    return counts
  }

  // MARK: Stock and ratings

  /// A stock level the catalog applied: the product, its units available now, and whether its
  /// in-stock flag flipped (which changes search results; other changes only its page).
  struct AppliedStockLevel: Sendable, Equatable {
    var product: UUID
    var available: Int64
    var flipped: Bool
  }

  /// The NOTIFY payload that announces a level change without a flip: "stock:<id>:<available>".
  /// Listeners update the cached page in place instead of evicting it.
  static func stockPayload(_ level: AppliedStockLevel) -> String {
    "stock:\(level.product.lowercasedString):\(level.available)"
  }

  /// Parses ``stockPayload(_:)``.
  static func parseStockPayload(_ payload: String) -> (product: UUID, available: Int64)? {
    let parts = payload.split(separator: ":")
    guard parts.count == 3, parts[0] == "stock", let id = UUID(id: String(parts[1])), let available = Int64(parts[2]) else {
      return nil
    }
    return (id, available)
  }

  /// Records levels newer than the stored ones; returns the levels applied.
  ///
  /// A level change touches the search document only when the product's in-stock flag flips
  /// (the document's one stock-derived column, set in place: its text and facets do not
  /// change), so the common case, units sold of a product still in stock, is one statement.
  /// Flipped products are announced for eviction (their pages and every search result); the
  /// others with their new level, for the caches to patch the page in place.
  func recordStockLevels(_ levels: [(product: UUID, available: Int64, version: Int64)]) async throws -> [AppliedStockLevel] {
    try await pool.withTransaction { tx in
      let applied = try await tx.query(
        """
        WITH changed AS (
          INSERT INTO catalog.stock_levels AS s (product_id, available, version, updated_at)
          SELECT l.product_id, l.available, l.version, now()
          FROM unnest($1::uuid[], $2::int8[], $3::int8[]) AS l (product_id, available, version)
          ORDER BY l.product_id
          ON CONFLICT (product_id) DO UPDATE SET available = EXCLUDED.available, version = EXCLUDED.version, updated_at = now()
          WHERE s.version < EXCLUDED.version
          RETURNING product_id, available
        ), flipped AS (
          UPDATE catalog.search_documents d SET in_stock = c.available > 0, changed_at = clock_timestamp()
          FROM changed c WHERE d.product_id = c.product_id AND d.in_stock <> (c.available > 0)
          RETURNING d.product_id
        )
        SELECT c.product_id, c.available, f.product_id IS NOT NULL FROM changed c LEFT JOIN flipped f USING (product_id)
        ORDER BY c.product_id
        """, [levels.map(\.product), levels.map(\.available), levels.map(\.version)]
      ).map {
        AppliedStockLevel(
          product: try $0.decode(0, as: UUID.self), available: try $0.decode(1, as: Int64.self), flipped: try $0.decode(2, as: Bool.self))
      }
      if !applied.isEmpty {
        try await tx.query(
          "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
          [Self.invalidationChannel, applied.map { $0.flipped ? $0.product.lowercasedString : Self.stockPayload($0) }])
      }
      return applied
    }
  }

  struct RatingUpdate: Sendable {
    var product: UUID
    var average: Double
    var count: Int64
    var histogram: [Int64]
    var version: Int64
  }

  /// Records rating summaries newer than the stored ones; returns the ids of the products that
  /// changed.
  func recordRatingSummaries(_ updates: [RatingUpdate]) async throws -> [UUID] {
    try await pool.withTransaction { tx in
      let changed = try await tx.query(
        """
        INSERT INTO catalog.rating_summaries AS r (product_id, average, count, histogram, version, updated_at)
        SELECT u.product_id, u.average, u.count, ARRAY[u.h1, u.h2, u.h3, u.h4, u.h5], u.version, now()
        FROM unnest($1::uuid[], $2::float8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[])
          AS u (product_id, average, count, h1, h2, h3, h4, h5, version)
        ORDER BY u.product_id
        ON CONFLICT (product_id) DO UPDATE SET average = EXCLUDED.average, count = EXCLUDED.count,
          histogram = EXCLUDED.histogram, version = EXCLUDED.version, updated_at = now()
        WHERE r.version < EXCLUDED.version
        RETURNING product_id
        """,
        [
          updates.map(\.product), updates.map(\.average), updates.map(\.count), updates.map { $0.histogram[0] },
          updates.map { $0.histogram[1] }, updates.map { $0.histogram[2] }, updates.map { $0.histogram[3] },
          updates.map { $0.histogram[4] }, updates.map(\.version),
        ]
      ).map { try $0.decode(0, as: UUID.self) }
      if !changed.isEmpty { try await refreshDocuments(changed, words: false, in: tx) }
      return changed
    }
  }

  // MARK: Search documents

  private static let documentColumns = """
    product_id, seller_id, seller_name, title, image_url, price_minor, currency, category_id, category_path, attributes, \
    attribute_labels, rating_average, rating_count, in_stock, created_at, document
    """

  /// Recomputes the search documents of `products` from the source tables (removing those no
  /// longer active), adds their words to the vocabulary when `words`, and announces them to the
  /// product caches on commit.
  func refreshDocuments(_ products: [UUID], words: Bool, in tx: PostgresTransaction) async throws {
    let sorted = products.sorted { $0.uuidString < $1.uuidString }
    try await tx.query(
      """
      DELETE FROM catalog.search_documents d WHERE d.product_id = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM catalog.products p WHERE p.id = d.product_id AND p.status = 'ACTIVE')
      """, [sorted])
    try await tx.query(
      """
      INSERT INTO catalog.search_documents (\(Self.documentColumns), changed_at)
      SELECT \(Self.documentColumns), clock_timestamp() FROM catalog.search_document_source WHERE product_id = ANY($1)
      ORDER BY product_id
      ON CONFLICT (product_id) DO UPDATE SET seller_id = EXCLUDED.seller_id, seller_name = EXCLUDED.seller_name,
        title = EXCLUDED.title, image_url = EXCLUDED.image_url, price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency,
        category_id = EXCLUDED.category_id, category_path = EXCLUDED.category_path, attributes = EXCLUDED.attributes,
        attribute_labels = EXCLUDED.attribute_labels, rating_average = EXCLUDED.rating_average,
        rating_count = EXCLUDED.rating_count, in_stock = EXCLUDED.in_stock, created_at = EXCLUDED.created_at,
        document = EXCLUDED.document, changed_at = clock_timestamp()
      """, [sorted])
    if words {
      try await tx.query(
        """
        INSERT INTO catalog.search_words (word, lexeme)
        SELECT DISTINCT w, coalesce((tsvector_to_array(to_tsvector('catalog.search', w)))[1], '') FROM catalog.products p,
          regexp_split_to_table(lower(public.unaccent(p.title || ' ' || array_to_string(p.attribute_values, ' ') || ' ' || p.details)),
            '[^[:alnum:]]+') AS w
        WHERE p.id = ANY($1) AND p.status = 'ACTIVE' AND char_length(w) BETWEEN 3 AND 40
        ORDER BY w
        ON CONFLICT (word) DO NOTHING
        """, [sorted])
    }
    try await tx.query(
      "SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) AS id", [Self.invalidationChannel, sorted])
  }

  // MARK: Search

  /// What a text query needs checked before it runs, in one round trip: whether the whole
  /// query keeps any lexeme once stop words are removed, and for each correctable word whether
  /// the catalog's vocabulary has it (as a prefix, for the last word), with the vocabulary's
  /// closest words (by trigram similarity, best first).
  func prepareQuery(_ tsquery: String, words: [(word: String, prefix: Bool)]) async throws
    -> (hasLexemes: Bool, words: [(matches: Bool, candidates: [String])])
  {
    // One column pair per word, each with its own parameters, so that every lookup is planned
    // for its word (the GIN and trigram indexes), not once for a column of words.
    var columns = ["numnode(to_tsquery('catalog.search', $1)) > 0"]
    var parameters: [any PostgresEncodable] = [tsquery]
    for word in words {
      parameters.append(word.word)
      let text = "$\(parameters.count)::text"
      // Whether any product has the word (its lexeme; as a prefix for the last word), from the
      // vocabulary's lexeme index: a word that matches nothing costs one lookup, not a scan.
      let lexeme = "coalesce((tsvector_to_array(to_tsvector('catalog.search', \(text))))[1], '')"
      let match = word.prefix ? "v.lexeme LIKE \(lexeme) || '%'" : "v.lexeme = \(lexeme)"
      columns.append("EXISTS (SELECT 1 FROM catalog.search_words v WHERE \(match))")
      columns.append(
        """
        ARRAY(SELECT v.word FROM catalog.search_words v WHERE v.word OPERATOR(public.%) \(text)
              ORDER BY public.similarity(v.word, \(text)) DESC, v.documents DESC, v.word LIMIT 8)
        """)
    }
    let rows = try await pool.query("SELECT " + columns.joined(separator: ",\n  "), parameters, planning: .perCall)
    guard let row = rows.first else { return (false, []) }
    return (
      try row.decode(0, as: Bool.self),
      try words.indices.map { index in
        (try row.decode(1 + 2 * index, as: Bool.self), try row.decode(2 + 2 * index, as: [String].self))
      }
    )
  }

  /// One search hit.
  struct Hit: Sendable {
    var summary: CommerceV1.ProductSummary
    /// The values of the sort keys, for the next page token.
    var position: [String]
  }

  /// Runs a planned search: one page and the (capped) count, in one statement.
  func search(_ plan: SearchPlan) async throws -> (hits: [Hit], count: Int64) {
    let rows = try await pool.query(plan.pageSQL, plan.pageParameters, planning: .perCall)
    var hits: [Hit] = []
    var count: Int64 = 0
    for row in rows {
      count = try row.decode(0, as: Int64.self)
      guard !row.isNull(1) else { continue }
      hits.append(Hit(summary: try Self.summary(row, from: 1), position: try row.decode(11, as: [String].self)))
    }
    return (hits, count)
  }

  /// The planner's estimate of how many products match (for counts beyond the exact cap).
  func estimatedCount(_ plan: SearchPlan) async throws -> Int64 {
    let rows = try await pool.query("EXPLAIN (FORMAT JSON) " + plan.countSQL, plan.countParameters, planning: .perCall)
    guard let text = try rows.first?.decode(0, as: String.self),
      let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]],
      let plan = json.first?["Plan"] as? [String: Any], let estimate = plan["Plan Rows"] as? NSNumber
    else { return 0 }
    return estimate.int64Value
  }

  /// The plan PostgreSQL ran `sql` with, timed (EXPLAIN ANALYZE, BUFFERS).
  func explain(_ sql: String, _ parameters: [any PostgresEncodable]) async throws -> String {
    try await pool.query("EXPLAIN (ANALYZE, BUFFERS) " + sql, parameters, planning: .perCall).map { try $0.decode(0, as: String.self) }
      .joined(separator: "\n")
  }

  /// Runs a planned facet query.
  func facets(_ plan: SearchPlan) async throws -> [SearchPlan.FacetRow] {
    try await pool.query(plan.facetSQL, plan.facetParameters, planning: .perCall).map { row in
      SearchPlan.FacetRow(
        kind: try row.decode(0, as: String.self), key: try row.decode(1, as: String.self), label: try row.decode(2, as: String.self),
        count: try row.decode(3, as: Int64.self))
    }
  }

  // MARK: Reindex jobs

  struct ReindexJob: Sendable {
    var id: String
    var state: String
    var processed: Int64
    var total: Int64
    var startedAt: Date
    var finishedAt: Date?
    var errorMessage: String

    var proto: CommerceV1.SearchReindexJob {
      .with {
        $0.jobId = id
        $0.state =
          switch state {
          case "RUNNING": .running
          case "SUCCEEDED": .succeeded
          default: .failed
          }
        $0.processedCount = processed
        $0.totalCount = total
        $0.startTime = .init(startedAt)
        if let finishedAt { $0.finishTime = .init(finishedAt) }
        $0.errorMessage = errorMessage
      }
    }
  }

  private static let jobColumns = "id, state, processed_count, total_count, started_at, finished_at, error_message"

  private static func job(_ row: PostgresRow) throws -> ReindexJob {
    ReindexJob(
      id: try row.decode(0, as: String.self), state: try row.decode(1, as: String.self), processed: try row.decode(2, as: Int64.self),
      total: try row.decode(3, as: Int64.self), startedAt: try row.decode(4, as: Date.self), finishedAt: try row.decode(5, as: Date?.self),
      errorMessage: try row.decode(6, as: String.self))
  }

  func reindexJob(_ id: String) async throws -> ReindexJob? {
    try await pool.query("SELECT \(Self.jobColumns) FROM catalog.reindex_jobs WHERE id = $1", [id]).first.map(Self.job)
  }

  enum StartOutcome: Sendable {
    case started(ReindexJob)
    case exists(ReindexJob)
    case busy(runningJobID: String)
  }

  /// Starts job `id` unless it exists or another runs. A running job whose lease lapsed (its
  /// server stopped) is marked FAILED first.
  func startReindexJob(_ id: String, lease: Duration) async throws -> StartOutcome {
    try await pool.withTransaction { tx in
      try await tx.query("LOCK TABLE catalog.reindex_jobs IN SHARE ROW EXCLUSIVE MODE")
      if let existing = try await tx.query("SELECT \(Self.jobColumns) FROM catalog.reindex_jobs WHERE id = $1", [id]).first {
        return .exists(try Self.job(existing))
      }
      try await tx.query(
        """
        UPDATE catalog.reindex_jobs SET state = 'FAILED', finished_at = now(),
          error_message = 'the server running the job stopped before it finished'
        WHERE state = 'RUNNING' AND lease_expires_at < now()
        """)
      if let running = try await tx.query("SELECT id FROM catalog.reindex_jobs WHERE state = 'RUNNING'").first {
        return .busy(runningJobID: try running.decode(0, as: String.self))
      }
      let row = try await tx.query(
        """
        INSERT INTO catalog.reindex_jobs (id, state, total_count, started_at, lease_expires_at)
        SELECT $1, 'RUNNING', (SELECT count(*) FROM catalog.products WHERE status = 'ACTIVE'), now(), now() + make_interval(secs => $2)
        RETURNING \(Self.jobColumns)
        """, [id, Double(lease.components.seconds)])
      return .started(try Self.job(row.first!))
    }
  }

  /// Rebuilds the search index and the vocabulary for job `id` beside the live ones, in
  /// batches (reporting progress and renewing the lease), then swaps them in. Searches read the
  /// old index until the swap; changes made meanwhile are carried over under a lock that blocks
  /// writers (not readers) for the moment of the swap.
  func runReindex(_ id: String, batchSize: Int = 2000, lease: Duration) async throws {
    let leaseSeconds = Double(lease.components.seconds)
    do {
      let next = try await buildNextSearchIndex(batchSize: batchSize) { processed in
        try await pool.query(
          """
          UPDATE catalog.reindex_jobs SET processed_count = $2, total_count = greatest(total_count, $2),
            lease_expires_at = now() + make_interval(secs => $3)
          WHERE id = $1
          """, [id, processed, leaseSeconds])
      }
      try await swapInSearchIndex(next) { tx in
        try await tx.query(
          """
          UPDATE catalog.reindex_jobs SET state = 'SUCCEEDED', finished_at = now(), processed_count = $2,
            total_count = greatest(total_count, $2)
          WHERE id = $1
          """, [id, next.processed])
      }
    } catch {
      _ = try? await pool.query(
        "UPDATE catalog.reindex_jobs SET state = 'FAILED', finished_at = now(), error_message = $2 WHERE id = $1 AND state = 'RUNNING'",
        [id, String(describing: error).prefix(1000).description])
      throw error
    }
  }

  /// A search index and vocabulary built beside the live ones (``buildNextSearchIndex(batchSize:progress:)``),
  /// ready for ``swapInSearchIndex(_:finish:)``.
  struct NextSearchIndex: Sendable {
    /// When the build started (server clock, as text): changes from then on are carried over.
    var startedAt: String
    /// The secondary indexes of the live tables (name, definition), made on the new ones.
    var indexes: [(name: String, definition: String)]
    /// The documents built.
    var processed: Int64
  }

  /// Fills `search_documents_next` from `search_document_source` in batches of `batchSize`
  /// products (calling `progress` with the documents built so far after each), builds
  /// `search_words_next` in one set-based statement, then makes the tables' indexes (after the
  /// rows, which is much faster than maintaining them row by row) and analyzes them. Drops the
  /// half-built tables if it fails.
  func buildNextSearchIndex(batchSize: Int, progress: (Int64) async throws -> Void) async throws -> NextSearchIndex {
    do {
      let startedAt = try await pool.query("SELECT clock_timestamp()::text").scalar(as: String.self) ?? ""
      try await pool.query("DROP TABLE IF EXISTS catalog.search_documents_next, catalog.search_words_next")
      try await pool.query(
        "CREATE TABLE catalog.search_documents_next (LIKE catalog.search_documents INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
      var after = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
      var processed: Int64 = 0
      while true {
        let rows = try await pool.query(
          """
          WITH batch AS (
            INSERT INTO catalog.search_documents_next (\(Self.documentColumns))
            SELECT \(Self.documentColumns) FROM catalog.search_document_source WHERE product_id > $1 ORDER BY product_id LIMIT $2
            RETURNING product_id
          )
          SELECT count(*), max(product_id::text) FROM batch
          """, [after, Int64(batchSize)])
        let inserted = try rows.first?.decode(0, as: Int64.self) ?? 0
        guard inserted > 0, let last = try rows.first?.decode(1, as: String?.self).flatMap(UUID.init(uuidString:)) else { break }
        after = last
        processed += inserted
        try await progress(processed)
      }
      try await pool.query(
        """
        CREATE TABLE catalog.search_words_next AS
        SELECT w AS word, coalesce((tsvector_to_array(to_tsvector('catalog.search', w)))[1], '') AS lexeme,
          count(DISTINCT p.id) AS documents
        FROM catalog.products p,
          regexp_split_to_table(lower(public.unaccent(p.title || ' ' || array_to_string(p.attribute_values, ' ') || ' ' || p.details)),
            '[^[:alnum:]]+') AS w
        WHERE p.status = 'ACTIVE' AND char_length(w) BETWEEN 3 AND 40
        GROUP BY w
        """)
      try await pool.query(
        "ALTER TABLE catalog.search_words_next ADD PRIMARY KEY (word), ALTER lexeme SET NOT NULL, ALTER documents SET DEFAULT 1")
      let definitions = try await pool.query(
        """
        SELECT indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'catalog' AND tablename IN ('search_documents', 'search_words') AND indexname NOT LIKE '%pkey'
        """
      ).map { (name: try $0.decode(0, as: String.self), definition: try $0.decode(1, as: String.self)) }
      for (name, definition) in definitions {
        let next =
          definition
          .replacingOccurrences(of: "INDEX \(name) ON", with: "INDEX \(name)_next ON")
          .replacingOccurrences(of: "ON catalog.search_documents ", with: "ON catalog.search_documents_next ")
          .replacingOccurrences(of: "ON catalog.search_words ", with: "ON catalog.search_words_next ")
        try await pool.query(next)
      }
      try await pool.query("ALTER TABLE catalog.search_documents_next ADD PRIMARY KEY (product_id)")
      try await pool.query("ANALYZE catalog.search_documents_next")
      try await pool.query("ANALYZE catalog.search_words_next")
      return NextSearchIndex(startedAt: startedAt, indexes: definitions, processed: processed)
    } catch {
      _ = try? await pool.query("DROP TABLE IF EXISTS catalog.search_documents_next, catalog.search_words_next")
      throw error
    }
  }

  /// Replaces the live search index and vocabulary with `next`, first carrying over the
  /// products changed since it was started, under a lock that blocks writers (not readers) for
  /// the moment of the swap; runs `finish` in the same transaction and announces "*" to the
  /// product caches. Drops the new tables if it fails.
  func swapInSearchIndex(_ next: NextSearchIndex, finish: (PostgresTransaction) async throws -> Void) async throws {
    do {
      try await pool.withTransaction { tx in
        try await tx.query("LOCK TABLE catalog.search_documents, catalog.search_words, catalog.products IN SHARE ROW EXCLUSIVE MODE")
        // Products changed since the build started, and documents whose stock or rating changed.
        let changed = try await tx.query(
          """
          SELECT id FROM catalog.products WHERE updated_at >= $1::timestamptz
          UNION SELECT product_id FROM catalog.search_documents WHERE changed_at >= $1::timestamptz
          """, [next.startedAt]
        ).map { try $0.decode(0, as: UUID.self) }
        if !changed.isEmpty {
          try await tx.query("DELETE FROM catalog.search_documents_next WHERE product_id = ANY($1)", [changed])
          try await tx.query(
            """
            INSERT INTO catalog.search_documents_next (\(Self.documentColumns))
            SELECT \(Self.documentColumns) FROM catalog.search_document_source WHERE product_id = ANY($1)
            """, [changed])
          try await tx.query(
            """
            INSERT INTO catalog.search_words_next (word, lexeme) SELECT word, lexeme FROM catalog.search_words
            ON CONFLICT (word) DO NOTHING
            """)
        }
        try await tx.query("DROP TABLE catalog.search_documents, catalog.search_words")
        try await tx.query("ALTER TABLE catalog.search_documents_next RENAME TO search_documents")
        try await tx.query("ALTER TABLE catalog.search_words_next RENAME TO search_words")
        try await tx.query("ALTER INDEX catalog.search_documents_next_pkey RENAME TO search_documents_pkey")
        try await tx.query("ALTER INDEX catalog.search_words_next_pkey RENAME TO search_words_pkey")
        for (name, _) in next.indexes {
          try await tx.query("ALTER INDEX catalog.\(name)_next RENAME TO \(name)")
        }
        try await finish(tx)
        try await tx.query("SELECT pg_notify($1, '*')", [Self.invalidationChannel])
      }
    } catch {
      _ = try? await pool.query("DROP TABLE IF EXISTS catalog.search_documents_next, catalog.search_words_next")
      throw error
    }
  }
}

// MARK: Stock alerts (GetStockAlerts)

extension CatalogStore {
  struct StockAlert { var product: UUID; var title: String; var sellerID: String; var available: Int64 }

  /// Active products with at most `threshold` units available, fewest first, and how many there are.
  func stockAlerts(threshold: Int64, limit: Int) async throws -> (count: Int64, alerts: [StockAlert]) {
    let low = """
      FROM catalog.stock_levels st JOIN catalog.products p ON p.id = st.product_id
      WHERE st.available <= $1 AND p.status = 'ACTIVE'
      """
    async let count = pool.query("SELECT count(*) \(low)", [threshold]).first?.decode(0, as: Int64.self) ?? 0
    async let rows = pool.query(
      "SELECT p.id, p.title, p.seller_id, st.available \(low) ORDER BY st.available, p.id LIMIT $2", [threshold, Int64(limit)])
    let alerts = try await rows.map {
      StockAlert(
        product: try $0.decode(0, as: UUID.self), title: try $0.decode(1, as: String.self),
        sellerID: try $0.decode(2, as: UUID.self).lowercasedString, available: try $0.decode(3, as: Int64.self))
    }
    return (try await count, alerts)
  }
}
