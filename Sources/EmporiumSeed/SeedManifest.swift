public import Foundation
import CommerceAPI
import CommerceKit
import CommerceAuth
import CommerceCatalog

/// What `emporium seed` loaded, for the load generator: written as JSON (keys sorted, so the
/// same seed gives the same bytes). Format 1:
///
/// ```json
/// {
///   "format": 1,
///   "seed": 42,
///   "epoch": "2025-02-12T00:00:00Z",
///   "counts": { "categories": 68, "products": 100000, "sellers": 200, "users": 1000 },
///   "categoryIds": ["…"], "leafCategoryIds": ["…"], "sellerIds": ["…"], "productIds": ["…"],
///   "users": [{ "id": "…", "email": "customer-1@seed.emporium.example", "password": "seed-customer-42", "role": "CUSTOMER" }]
/// }
/// ```
///
/// Ids are lower-case UUIDs, in the order they were made; `users` holds every account,
/// sellers included (role SELLER), with its clear-text password.
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

  public var format = 1
  public var seed: UInt64
  public var epoch: String
  public var counts: Counts
  public var categoryIds: [String]
  public var leafCategoryIds: [String]
  public var sellerIds: [String]
  public var productIds: [String]
  public var users: [User]

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
  }

  /// The JSON, keys sorted, with a final newline.
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(self) + Data("\n".utf8)
  }
}
