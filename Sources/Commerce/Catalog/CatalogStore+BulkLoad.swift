import CommerceKit
import Foundation
import Postgres

/// The SQL of ``CatalogService/bulkLoad(categories:sellers:products:pool:progress:)``: categories,
/// sellers and products with `COPY` in one transaction, then the search index and vocabulary
/// built set-based beside the live ones and swapped in, as a reindex job does.
extension CatalogStore {
  /// Rows per COPY chunk are sent once they hold about this many bytes.
  static let copyChunkBytes = 1 << 20

  /// Whether the catalog holds no category, seller or product yet.
  func isEmpty() async throws -> Bool {
    try await pool.query(
      """
      SELECT NOT EXISTS (SELECT 1 FROM catalog.categories) AND NOT EXISTS (SELECT 1 FROM catalog.sellers)
        AND NOT EXISTS (SELECT 1 FROM catalog.products)
      """
    ).scalar(as: Bool.self) ?? false
  }

  /// Copies the categories (parents before children, each with its ancestors and sort path),
  /// sellers and products in one transaction; calls `progress` with the products copied so far
  /// after each chunk. Returns the number of products copied.
  func copyCatalog(
    categories: [CategoryRow], sellers: [CatalogService.BulkSeller], products: some Sequence<CatalogService.BulkProduct>,
    progress: (Int) -> Void
  ) async throws -> Int {
    try await pool.withTransaction(maxAttempts: 1) { tx in
      try await tx.copyFrom("COPY catalog.categories (id, parent_id, name, slug, depth, ancestors, sort_path, created_at) FROM STDIN") {
        writer in
        var rows = PostgresCopyRows(capacity: Self.copyChunkBytes)
        for category in categories {
          rows.append(category.id)
          rows.append(category.parentID)
          rows.append(category.name)
          rows.append(category.slug)
          rows.append(Int32(category.ancestors.count))
          rows.append(category.ancestors)
          rows.append(category.sortPath)
          rows.append(category.createdAt)
          rows.endRow()
        }
        try await writer.write(&rows)
      }
      try await tx.copyFrom("COPY catalog.sellers (id, display_name, join_time, refreshed_at) FROM STDIN") { writer in
        var rows = PostgresCopyRows(capacity: Self.copyChunkBytes)
        for seller in sellers {
          rows.append(seller.id)
          rows.append(seller.displayName)
          rows.append(seller.joinTime)
          rows.append(seller.joinTime)
          rows.endRow()
        }
        try await writer.write(&rows)
      }
      var copied = 0
      try await tx.copyFrom(
        """
        COPY catalog.products (id, seller_id, title, details, category_id, price_minor, currency, compare_at_minor, image_urls, \
        attribute_names, attribute_values, sku, status, version, created_at, updated_at) FROM STDIN
        """
      ) { writer in
        var rows = PostgresCopyRows(capacity: Self.copyChunkBytes + 64 * 1024)
        for product in products {
          rows.append(product.id)
          rows.append(product.sellerID)
          rows.append(product.title)
          rows.append(product.details)
          rows.append(product.categoryID)
          rows.append(product.price.amountMinor)
          rows.append(product.price.currency)
          rows.append(product.compareAtPrice?.amountMinor)
          rows.append(product.imageURLs)
          rows.append(product.attributes.map(\.name))
          rows.append(product.attributes.map(\.value))
          rows.append(product.sku)
          rows.append("ACTIVE")
          rows.append(Int64(1))
          rows.append(product.createdAt)
          rows.append(product.createdAt)
          rows.endRow()
          if rows.bytes.count >= Self.copyChunkBytes {
            copied += rows.rowCount
            try await writer.write(&rows)
            progress(copied)
          }
        }
        copied += rows.rowCount
        try await writer.write(&rows)
        progress(copied)
      }
      try await tx.query(
        """
        UPDATE catalog.sellers s SET active_products = c.n
        FROM (SELECT seller_id, count(*) AS n FROM catalog.products WHERE status = 'ACTIVE' GROUP BY seller_id) c
        WHERE c.seller_id = s.id
        """)
      return copied
    }
  }

  /// Refreshes the planner's statistics of the tables just loaded.
  func analyzeCatalog() async throws {
    try await pool.query("ANALYZE catalog.categories, catalog.sellers, catalog.products")
  }

  /// A category row as stored: ancestors from the root down to the parent, and the sort path.
  struct CategoryRow: Sendable {
    var id: UUID
    var parentID: UUID?
    var name: String
    var slug: String
    var ancestors: [UUID]
    var sortPath: [String]
    var createdAt: Date
  }
}
