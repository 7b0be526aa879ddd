public import CommerceAPI
public import CommerceAuth
public import CommerceCatalog
public import CommerceInventory
import CommerceKit
public import Foundation

/// What to seed.
public struct SeedConfiguration: Sendable, Hashable, Codable {
  public var products: Int
  /// Accounts besides the sellers: customers, plus admins (1 per 500, at least one) and
  /// delivery partners (1 per 50, at least one) when there are enough.
  public var users: Int
  /// Seller accounts, each with a catalog profile.
  public var sellers: Int
  public var seed: UInt64
  /// Warehouses (codes WH01...), each holding a stock row of every product; 0 loads no stock.
  public var warehouses: Int

  public init(products: Int, users: Int, sellers: Int, seed: UInt64, warehouses: Int = 3) {
    self.products = products
    self.users = users
    self.sellers = sellers
    self.seed = seed
    self.warehouses = warehouses
  }
}

/// The data set of a ``SeedConfiguration``, made without any I/O: the same configuration gives
/// the same categories, accounts, sellers, products, warehouses and stock, with the same ids,
/// every time.
///
/// Each entity draws from its own ``SeedRandom`` stream, so ``product(_:)`` makes product *i*
/// in isolation (products are made lazily, as they are loaded). Timestamps are offsets from
/// ``epoch``, a fixed instant derived from the seed, never the clock.
public struct SeedGenerator: Sendable {
  public let configuration: SeedConfiguration
  /// The instant the data set is "now": midnight UTC of a day in 2025 chosen by the seed.
  public let epoch: Date
  /// The category tree, parents before children.
  public let categories: [CatalogService.BulkCategory]
  /// Every account: the users (customers, admins, delivery partners), then the sellers.
  public let accounts: [AuthService.BulkAccount]
  /// The sellers' catalog profiles (ids are their accounts').
  public let sellers: [CatalogService.BulkSeller]
  /// The warehouses, codes WH01, WH02...
  public let warehouses: [InventoryService.BulkWarehouse]

  /// A leaf category and what its products are made of.
  struct Leaf: Sendable {
    var id: UUID
    var category: SeedVocabulary.Category
    var department: SeedVocabulary.Department
    /// The names from the root down to the leaf, for descriptions.
    var path: [String]
  }

  let leaves: [Leaf]

  private enum Stream: UInt64 {
    case categories = 1, users, sellers, products, warehouses
  }

  /// The password every account of `role` gets: known, for load tests.
  public static func password(for role: CommerceV1.Role, seed: UInt64) -> String {
    "seed-\(role.ruleName.lowercased().replacingOccurrences(of: "_", with: "-"))-\(seed)"
  }

  public init(_ configuration: SeedConfiguration) {
    self.configuration = configuration
    let seed = configuration.seed
    self.epoch = Date(timeIntervalSince1970: 1_735_689_600 + Double(seed % 365) * 86_400)

    // Categories: depth first, from the vocabulary's tree.
    var random = SeedRandom(seed: seed, stream: Stream.categories.rawValue)
    var categories: [CatalogService.BulkCategory] = []
    var leaves: [Leaf] = []
    let created = epoch.addingTimeInterval(-3 * 365 * 86_400)
    func add(_ category: SeedVocabulary.Category, parent: (id: UUID, slug: String)?, path: [String], department: SeedVocabulary.Department) {
      let id = random.uuid()
      let slug = (parent.map { $0.slug + "-" } ?? "") + Self.slug(category.name)
      categories.append(.init(id: id, parentID: parent?.id, name: category.name, slug: slug, createdAt: created))
      if category.children.isEmpty {
        leaves.append(Leaf(id: id, category: category, department: department, path: path + [category.name]))
      }
      for child in category.children {
        add(child, parent: (id, slug), path: path + [category.name], department: department)
      }
    }
    for department in SeedVocabulary.departments {
      add(department.category, parent: nil, path: [], department: department)
    }
    self.categories = categories
    self.leaves = leaves

    // Users: admins first, then delivery partners, then customers; then the sellers.
    let admins = configuration.users >= 1 ? max(1, configuration.users / 500) : 0
    let partners = configuration.users >= 2 ? max(1, configuration.users / 50) : 0
    var accounts: [AuthService.BulkAccount] = []
    for index in 0..<configuration.users {
      var random = SeedRandom(seed: seed, stream: Stream.users.rawValue, index: UInt64(index))
      let role: CommerceV1.Role = index < admins ? .admin : index < admins + partners ? .deliveryPartner : .customer
      let first = random.pick(SeedVocabulary.firstNames)
      let last = random.pick(SeedVocabulary.lastNames)
      let prefix = role == .deliveryPartner ? "delivery" : role.ruleName.lowercased()
      accounts.append(
        AuthService.BulkAccount(
          id: random.uuid(), email: "\(prefix)-\(index + 1)@seed.emporium.example", password: Self.password(for: role, seed: seed),
          displayName: role == .deliveryPartner ? "\(last) Couriers" : "\(first) \(last)", roles: [.customer, role],
          createdAt: epoch.addingTimeInterval(-Double(400 * 86_400 + random.below(700 * 86_400)))))
    }
    var sellers: [CatalogService.BulkSeller] = []
    for index in 0..<configuration.sellers {
      var random = SeedRandom(seed: seed, stream: Stream.sellers.rawValue, index: UInt64(index))
      let name = "\(random.pick(SeedVocabulary.shopPrefixes)) \(random.pick(SeedVocabulary.shopSuffixes)) \(index + 1)"
      let id = random.uuid()
      // Every seller joined before the first product (products are at most a year old).
      let joined = epoch.addingTimeInterval(-Double(400 * 86_400 + random.below(700 * 86_400)))
      accounts.append(
        AuthService.BulkAccount(
          id: id, email: "seller-\(index + 1)@seed.emporium.example", password: Self.password(for: .seller, seed: seed),
          displayName: "\(random.pick(SeedVocabulary.firstNames)) \(random.pick(SeedVocabulary.lastNames))",
          roles: [.customer, .seller], sellerApproved: true, businessName: name, sellerRegionCode: random.pick(SeedVocabulary.regions),
          createdAt: joined))
      sellers.append(CatalogService.BulkSeller(id: id, displayName: name, joinTime: joined))
    }
    self.accounts = accounts
    self.sellers = sellers

    // Warehouses: a few fulfilment centres in the sellers' regions.
    var warehouses: [InventoryService.BulkWarehouse] = []
    for index in 0..<configuration.warehouses {
      var random = SeedRandom(seed: seed, stream: Stream.warehouses.rawValue, index: UInt64(index))
      let id = random.uuid()
      let place = SeedVocabulary.warehousePlaces[index % SeedVocabulary.warehousePlaces.count]
      warehouses.append(
        InventoryService.BulkWarehouse(
          id: id, code: String(format: "WH%02d", index + 1),
          name: "\(place.name) Fulfillment Center" + (index >= SeedVocabulary.warehousePlaces.count ? " \(index + 1)" : ""),
          regionCode: place.region, createdAt: created))
    }
    self.warehouses = warehouses
  }

  /// Product `index` (0..<configuration.products).
  public func product(_ index: Int) -> CatalogService.BulkProduct {
    var random = SeedRandom(seed: configuration.seed, stream: Stream.products.rawValue, index: UInt64(index))
    let id = random.uuid()
    let leaf = leaves[random.below(leaves.count)]
    let department = leaf.department
    // Sellers have a long tail too: the first sellers list many more products than the last.
    let u = random.unit()
    let seller = sellers[min(sellers.count - 1, Int(Double(sellers.count) * u * u))]
    let brand = random.pick(department.brands)
    let adjective = random.pick(SeedVocabulary.adjectives)
    let material = random.pick(department.materials)
    let color = random.pick(SeedVocabulary.colors)
    let noun = random.pick(leaf.category.nouns)
    var title = "\(brand) \(adjective) \(material) \(noun)"
    if random.chance(0.3) {
      title += " \(random.pick(["Pro", "Plus", "Max", "Mini", "Lite", "II", "X", "Air"]))"
    }
    if random.chance(0.4) { title += ", \(color)" }
    var attributes: [(name: String, value: String)] = [("brand", brand), ("color", color), ("material", material)]
    switch leaf.category.sizes {
    case .none: break
    case .apparel: attributes.append(("size", random.pick(SeedVocabulary.apparelSizes)))
    case .shoes: attributes.append(("size", random.pick(SeedVocabulary.shoeSizes)))
    case .general: attributes.append(("size", random.pick(SeedVocabulary.generalSizes)))
    }
    if random.chance(0.15) {
      attributes.append(("color", random.pick(SeedVocabulary.colors)))  // a second colorway
    }
    var sentences = [
      "The \(brand) \(adjective.lowercased()) \(noun.lowercased()) in \(color.lowercased()) \(material.lowercased()).",
      "Part of our \(leaf.path.joined(separator: " / ")) range.",
    ]
    for _ in 0..<(2 + random.below(4)) {
      sentences.append(
        random.pick(SeedVocabulary.phrases)
          .replacingOccurrences(of: "{material}", with: material.lowercased())
          .replacingOccurrences(of: "{color}", with: color.lowercased()))
    }
    let price = Self.price(random.logNormal(median: department.medianPrice, sigma: department.sigma))
    let compareAt = random.chance(0.2) ? Self.price(Double(price) / 100 * (1.1 + random.unit() * 0.5)) : nil
    let createdAt = epoch.addingTimeInterval(-Double(random.below(365 * 86_400)))
    return CatalogService.BulkProduct(
      id: id, sellerID: seller.id, title: title, details: sentences.joined(separator: " "), categoryID: leaf.id,
      price: Money(amountMinor: price, currency: "USD"),
      compareAtPrice: compareAt.flatMap { $0 > price ? Money(amountMinor: $0, currency: "USD") : nil },
      imageURLs: (1...(1 + random.below(3))).map { "https://images.emporium.example/products/\(id.lowercasedString)/\($0).jpg" },
      attributes: attributes, sku: "SEED-\(configuration.seed)-\(index + 1)", createdAt: createdAt)
  }

  /// The id of product `index`, without making the rest of it.
  public func productID(_ index: Int) -> UUID {
    var random = SeedRandom(seed: configuration.seed, stream: Stream.products.rawValue, index: UInt64(index))
    return random.uuid()
  }

  /// Every product, made as the sequence is read.
  public var products: LazyMapSequence<Range<Int>, CatalogService.BulkProduct> {
    (0..<configuration.products).lazy.map { self.product($0) }
  }

  /// The ids of the leaf categories (where products are listed).
  public var leafCategoryIDs: [UUID] { leaves.map(\.id) }

  /// Units of product `index` in stock at each of `warehouses` warehouses: mostly a few dozen,
  /// sometimes none, now and then many.
  public func stock(ofProduct index: Int, warehouses: Int) -> [Int64] {
    var random = SeedRandom(seed: configuration.seed, stream: 100 + UInt64(warehouses), index: UInt64(index))
    return (0..<warehouses).map { _ in random.chance(0.1) ? 0 : Int64(random.logNormal(median: 25, sigma: 1.0).rounded()) }
  }

  /// The stock rows of product `index`: one per warehouse, in the order of ``warehouses``, with
  /// ``stock(ofProduct:warehouses:)``'s units (0 included: a product with 0 everywhere is out of
  /// stock).
  public func stockRows(ofProduct index: Int) -> [InventoryService.BulkStock] {
    let id = productID(index).lowercasedString
    return zip(warehouses, stock(ofProduct: index, warehouses: warehouses.count)).map { warehouse, units in
      InventoryService.BulkStock(productID: id, warehouseID: warehouse.id, onHand: units)
    }
  }

  /// Every product's stock rows, product by product, made as the sequence is read.
  public var stock: some Sequence<InventoryService.BulkStock> {
    (0..<configuration.products).lazy.map { self.stockRows(ofProduct: $0) }.joined()
  }

  /// A price in minor units from a price in major units: at least 0.99, ending in .99 (or .49
  /// below 10), as shops price.
  static func price(_ major: Double) -> Int64 {
    let clamped = min(max(major, 0.5), 50_000)
    let whole = Int64(clamped.rounded(.down))
    if clamped < 10 && clamped - Double(whole) < 0.5 { return max(99, whole * 100 + 49) }
    return whole * 100 + 99
  }

  /// `Home & Kitchen` → `home-kitchen`.
  static func slug(_ name: String) -> String {
    var slug = ""
    for character in name.lowercased() {
      if character.isASCII && (character.isLetter || character.isNumber) {
        slug.append(character)
      } else if !slug.isEmpty && slug.last != "-" {
        slug.append("-")
      }
    }
    while slug.last == "-" { slug.removeLast() }
    return slug
  }
}
