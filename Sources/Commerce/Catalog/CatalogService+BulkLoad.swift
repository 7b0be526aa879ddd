public import CommerceKit
public import Foundation
public import Postgres

extension CatalogService {
  /// A category to load; its parent comes earlier in the list (nil: a root).
  public struct BulkCategory: Sendable, Hashable {
    public var id: UUID
    public var parentID: UUID?
    public var name: String
    /// Lower-case letters, digits and "-", unique.
    public var slug: String
    public var createdAt: Date

    public init(id: UUID, parentID: UUID?, name: String, slug: String, createdAt: Date) {
      self.id = id
      self.parentID = parentID
      self.name = name
      self.slug = slug
      self.createdAt = createdAt
    }
  }

  /// A seller's public profile to load (the id is their account's).
  public struct BulkSeller: Sendable, Hashable {
    public var id: UUID
    public var displayName: String
    public var joinTime: Date

    public init(id: UUID, displayName: String, joinTime: Date) {
      self.id = id
      self.displayName = displayName
      self.joinTime = joinTime
    }
  }

  /// An ACTIVE product to load (version 1, updated when created).
  public struct BulkProduct: Sendable, Hashable {
    public var id: UUID
    public var sellerID: UUID
    public var title: String
    public var details: String
    public var categoryID: UUID
    public var price: Money
    /// Higher than `price`, same currency, or nil.
    public var compareAtPrice: Money?
    public var imageURLs: [String]
    /// Attribute names and values in order (brand, color, size, material...).
    public var attributes: [(name: String, value: String)] {
      get { zip(attributeNames, attributeValues).map { ($0, $1) } }
      set {
        attributeNames = newValue.map(\.name)
        attributeValues = newValue.map(\.value)
      }
    }
    public var sku: String
    public var createdAt: Date
    private var attributeNames: [String] = []
    private var attributeValues: [String] = []

    public init(
      id: UUID, sellerID: UUID, title: String, details: String, categoryID: UUID, price: Money, compareAtPrice: Money?,
      imageURLs: [String], attributes: [(name: String, value: String)], sku: String, createdAt: Date
    ) {
      self.id = id
      self.sellerID = sellerID
      self.title = title
      self.details = details
      self.categoryID = categoryID
      self.price = price
      self.compareAtPrice = compareAtPrice
      self.imageURLs = imageURLs
      self.sku = sku
      self.createdAt = createdAt
      self.attributes = attributes
    }
  }

  /// How far ``bulkLoad(categories:sellers:products:pool:progress:)`` has come.
  public enum BulkLoadProgress: Sendable, Hashable {
    /// Products copied so far.
    case productsCopied(Int)
    /// Search documents built so far.
    case documentsBuilt(Int)
    /// The new index (documents, vocabulary, indexes) is built and being swapped in.
    case swappingIn
  }

  /// Why a bulk load was refused before anything was written.
  public struct BulkLoadError: Error, CustomStringConvertible {
    public var description: String
  }

  /// Loads a whole catalog into an empty catalog schema, fast: categories, sellers and products
  /// with `COPY` in one transaction (nothing is loaded if any row fails), then the search index
  /// and the vocabulary built set-based from the products and swapped in, as a reindex job
  /// does, and the tables analyzed. For operators and the composition root (`emporium seed`);
  /// the service's own writes go one product at a time through the RPC methods.
  ///
  /// `products` is read once, as the COPY streams (so a lazy sequence keeps memory flat). The
  /// pool's migrations must have run. Product caches of running servers are told to drop
  /// everything when the index is swapped in.
  ///
  /// - Returns: The number of products loaded.
  /// - Throws: ``BulkLoadError`` when the catalog is not empty or a category's parent is not
  ///   listed before it; ``PostgresError`` when a row breaks a rule of the schema (an unknown
  ///   seller or category, a duplicate SKU or slug, a price below 1...).
  @discardableResult
  public static func bulkLoad(
    categories: [BulkCategory], sellers: [BulkSeller], products: some Sequence<BulkProduct>, pool: PostgresPool,
    progress: (BulkLoadProgress) -> Void = { _ in }
  ) async throws -> Int {
    let store = CatalogStore(pool: pool)
    guard try await store.isEmpty() else {
      throw BulkLoadError(description: "the catalog already holds categories, sellers or products; bulk load needs an empty one")
    }
    var rows: [CatalogStore.CategoryRow] = []
    var byID: [UUID: Int] = [:]
    for category in categories {
      var row = CatalogStore.CategoryRow(
        id: category.id, parentID: category.parentID, name: category.name, slug: category.slug, ancestors: [], sortPath: [],
        createdAt: category.createdAt)
      if let parent = category.parentID {
        guard let index = byID[parent] else {
          throw BulkLoadError(description: "category '\(category.slug)' comes before its parent")
        }
        row.ancestors = rows[index].ancestors + [parent]
        row.sortPath = rows[index].sortPath
      }
      // As createCategory orders the tree: each level's lower-cased name and id.
      row.sortPath.append(category.name.lowercased() + "\u{1F}" + category.id.lowercasedString)
      byID[category.id] = rows.count
      rows.append(row)
    }
    let loaded = try await store.copyCatalog(categories: rows, sellers: sellers, products: products) {
      progress(.productsCopied($0))
    }
    try await store.analyzeCatalog()
    let next = try await store.buildNextSearchIndex(batchSize: 10_000) { built in progress(.documentsBuilt(Int(built))) }
    progress(.swappingIn)
    try await store.swapInSearchIndex(next) { _ in }
    return loaded
  }
}
