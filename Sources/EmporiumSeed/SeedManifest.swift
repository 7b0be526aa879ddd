public import Foundation
import CommerceAPI
import CommerceKit
import CommerceAuth
import CommerceCatalog
import CommerceInventory

/// What `emporium seed` loaded, for the load generator: written as JSON (keys sorted, so the
/// same seed gives the same bytes). Format 2:
///
/// ```json
/// {
///   "format": 2,
///   "seed": 42,
///   "epoch": "2025-02-12T00:00:00Z",
///   "counts": { "categories": 68, "products": 100000, "sellers": 200, "users": 1000 },
///   "categoryIds": ["…"], "leafCategoryIds": ["…"], "sellerIds": ["…"], "productIds": ["…"],
///   "users": [{ "id": "…", "email": "customer-1@seed.emporium.example", "password": "seed-customer-42", "role": "CUSTOMER" }],
///   "warehouses": [{ "id": "…", "code": "WH01", "name": "Riverside Fulfillment Center", "regionCode": "US" }],
///   "stock": { "rows": 300000, "units": 9876543, "inStockProducts": 99990, "inStockProductIds": ["…"] }
/// }
/// ```
///
/// Ids are lower-case UUIDs, in the order they were made; `users` holds every account,
/// sellers included (role SELLER), with its clear-text password. `stock` sums what was loaded:
/// stock rows (one per product and warehouse), units on hand (none are reserved), products
/// with at least one unit, and the first ``Stock/inStockSample`` of those (in product order).
///
/// Format 2 adds `warehouses` and `stock` to format 1 and changes nothing else: a reader of
/// format 1 ignores them, and a format 1 manifest decodes with both nil.
public struct SeedManifest: Codable, Sendable, Hashable {
  public struct Counts: Codable, Sendable, Hashable {
    public var categories: Int
    public var products: Int
    public var sellers: Int
    public var users: Int
  }

  public struct User: Codable, Sendable, Hashable {
    public var id: String
    public var email: String
    public var password: String
    /// CUSTOMER, SELLER, ADMIN or DELIVERY_PARTNER: the account's role besides CUSTOMER.
    public var role: String
  }

  /// A warehouse stock was loaded into.
  public struct Warehouse: Codable, Sendable, Hashable {
    public var id: String
    public var code: String
    public var name: String
    public var regionCode: String
  }

  /// What the inventory holds after the seed.
  public struct Stock: Codable, Sendable, Hashable {
    /// How many in-stock product ids the manifest lists.
    public static let inStockSample = 100

    /// Stock rows: one per product and warehouse.
    public var rows: Int
    /// Units on hand across all rows.
    public var units: Int64
    /// Products with at least one unit somewhere.
    public var inStockProducts: Int
    /// The first ``inStockSample`` of those, in product order.
    public var inStockProductIds: [String]
  }

  public var format = 2
  public var seed: UInt64
  public var epoch: String
  public var counts: Counts
  public var categoryIds: [String]
  public var leafCategoryIds: [String]
  public var sellerIds: [String]
  public var productIds: [String]
  public var users: [User]
  /// The warehouses in the order they were made (nil in format 1).
  public var warehouses: [Warehouse]?
  /// The stock loaded (nil in format 1).
  public var stock: Stock?

  /// The manifest of a generator's data set.
  public init(_ generator: SeedGenerator) {
    let configuration = generator.configuration
    seed = configuration.seed
    epoch = ISO8601DateFormatter().string(from: generator.epoch)
    counts = Counts(
      categories: generator.categories.count, products: configuration.products, sellers: generator.sellers.count,
      users: generator.accounts.count)
    categoryIds = generator.categories.map { $0.id.uuidString.lowercased() }
    leafCategoryIds = generator.leafCategoryIDs.map { $0.uuidString.lowercased() }
    sellerIds = generator.sellers.map { $0.id.uuidString.lowercased() }
    productIds = (0..<configuration.products).map { generator.productID($0).uuidString.lowercased() }
    users = generator.accounts.map { account in
      User(
        id: account.id.uuidString.lowercased(), email: account.email, password: account.password,
        role: account.roles.subtracting([.customer]).first?.ruleName ?? "CUSTOMER")
    }
    warehouses = generator.warehouses.map { warehouse in
      Warehouse(id: warehouse.id.lowercasedString, code: warehouse.code, name: warehouse.name, regionCode: warehouse.regionCode)
    }
    var stock = Stock(rows: configuration.products * generator.warehouses.count, units: 0, inStockProducts: 0, inStockProductIds: [])
    for index in 0..<configuration.products {
      let units = generator.stock(ofProduct: index, warehouses: generator.warehouses.count).reduce(0, +)
      stock.units += units
      guard units > 0 else { continue }
      stock.inStockProducts += 1
      if stock.inStockProductIds.count < Stock.inStockSample { stock.inStockProductIds.append(productIds[index]) }
    }
    self.stock = stock
  }

  /// The JSON, keys sorted, with a final newline.
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(self) + Data("\n".utf8)
  }
}
