import ArgumentParser
import Foundation

/// What loadgen reads of `emporium seed --manifest FILE` (formats 1 and 2): the accounts with
/// their passwords, the product and category ids. Only the fields loadgen uses are read, and the
/// stock fields are optional: a manifest that names warehouses and says the products are stocked
/// (format 2's `warehouses` and `stock`) lets checkout use the seeded stock; one without them
/// gets stock set through InventoryService.SetStock as an admin before the measured run.
struct LoadManifest: Decodable, Sendable {
  /// The manifest formats loadgen reads: 1, and 2 (which adds warehouses and stock).
  static let formats = 1...2

  struct Warehouse: Decodable, Sendable {
    var id: String
  }

  struct User: Decodable, Sendable {
    var id: String
    var email: String
    var password: String
    var role: String
  }

  var format: Int
  var seed: UInt64?
  var productIds: [String]
  var leafCategoryIds: [String]
  var users: [User]
  /// Warehouses the seed created, when it creates any.
  var warehouseIds: [String]?
  /// Whether the seed stocked the products (any `stock` entry: its shape is the seed's).
  var hasStock: Bool

  enum CodingKeys: String, CodingKey {
    case format, seed, productIds, leafCategoryIds, users, warehouseIds, warehouses, stock
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    format = try container.decode(Int.self, forKey: .format)
    seed = try container.decodeIfPresent(UInt64.self, forKey: .seed)
    productIds = try container.decode([String].self, forKey: .productIds)
    leafCategoryIds = try container.decodeIfPresent([String].self, forKey: .leafCategoryIds) ?? []
    users = try container.decode([User].self, forKey: .users)
    warehouseIds =
      try container.decodeIfPresent([Warehouse].self, forKey: .warehouses)?.map(\.id)
      ?? container.decodeIfPresent([String].self, forKey: .warehouseIds)
    hasStock = container.contains(.stock)
  }

  static func load(_ path: String) throws -> LoadManifest {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let manifest = try JSONDecoder().decode(LoadManifest.self, from: data)
    guard formats.contains(manifest.format) else {
      throw ValidationError(
        "manifest format \(manifest.format); loadgen reads formats \(formats.lowerBound) to \(formats.upperBound)")
    }
    return manifest
  }

  var customers: [User] { users.filter { $0.role == "CUSTOMER" } }
  var admins: [User] { users.filter { $0.role == "ADMIN" } }
}
