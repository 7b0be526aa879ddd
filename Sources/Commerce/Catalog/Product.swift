import CommerceAPI
import Messages
import CommerceKit
import Foundation

/// A product as the catalog stores it.
struct ProductRecord: Sendable, Hashable {
  enum Status: String, Sendable, Hashable {
    case draft = "DRAFT"
    case active = "ACTIVE"
    case archived = "ARCHIVED"

    var proto: CommerceV1.ProductStatus {
      switch self {
      case .draft: .draft
      case .active: .active
      case .archived: .archived
      }
    }

    init?(_ proto: CommerceV1.ProductStatus) {
      switch proto {
      case .draft: self = .draft
      case .active: self = .active
      case .archived: self = .archived
      default: return nil
      }
    }
  }

  struct Attribute: Sendable, Hashable {
    var name: String
    var value: String
  }

  var id: UUID
  var sellerID: UUID
  var title: String
  var details: String
  var categoryID: UUID
  var price: Money
  var compareAtPrice: Money?
  var imageURLs: [String]
  var attributes: [Attribute]
  var sku: String
  var status: Status
  var version: Int64
  var createdAt: Date
  var updatedAt: Date
  var archivedAt: Date?

  var proto: CommerceV1.Product {
    .with {
      $0.productId = id.lowercasedString
      $0.sellerId = sellerID.lowercasedString
      $0.title = title
      $0.details = details
      $0.categoryId = categoryID.lowercasedString
      $0.price = price.proto
      if let compareAtPrice { $0.compareAtPrice = compareAtPrice.proto }
      $0.imageUrls = imageURLs
      $0.attributes = attributes.map { attribute in
        .with {
          $0.name = attribute.name
          $0.value = attribute.value
        }
      }
      $0.sku = sku
      $0.status = status.proto
      $0.version = version
      $0.createTime = .init(createdAt)
      $0.updateTime = .init(updatedAt)
      if let archivedAt { $0.archiveTime = .init(archivedAt) }
    }
  }

  /// The bytes this record keeps in memory, roughly, for the product cache's budget.
  var approximateSize: Int {
    256 + title.utf8.count + details.utf8.count + sku.utf8.count + imageURLs.reduce(0) { $0 + 16 + $1.utf8.count }
      + attributes.reduce(0) { $0 + 32 + $1.name.utf8.count + $1.value.utf8.count }
  }
}

/// The rules on a product's fields (catalog.proto: Product), checked on create and update.
struct ProductRules: Sendable {
  /// The catalog's one currency.
  var currency: String

  /// The field names UpdateProduct accepts in update_paths.
  static let updatablePaths: Set<String> = [
    "title", "details", "category_id", "price", "compare_at_price", "image_urls", "attributes", "sku", "status",
  ]

  func checkTitle(_ title: String, _ field: String, _ violations: inout FieldViolations) {
    violations.check(
      (1...200).contains(title.count) && !title.allSatisfy(\.isWhitespace), field, "must be 1 to 200 characters, not only spaces")
  }

  func checkDetails(_ details: String, _ field: String, _ violations: inout FieldViolations) {
    violations.check(details.count <= 20_000, field, "must be at most 20,000 characters")
  }

  /// The price, or nil (with a violation) when absent, not positive or in another currency.
  func price(_ money: CommerceV1.Money?, _ field: String, _ violations: inout FieldViolations, mismatch: inout Bool) -> Money? {
    guard let money else {
      violations.add(field, "is required")
      return nil
    }
    guard let value = Money.validated(money, field: field, into: &violations) else { return nil }
    guard value.currency == currency else {
      violations.add(field + ".currency", "must be the catalog currency \(currency)")
      mismatch = true
      return nil
    }
    guard value.amountMinor >= 1 else {
      violations.add(field + ".amount_minor", "must be at least 1")
      return nil
    }
    return value
  }

  func checkImageURLs(_ urls: [String], _ field: String, _ violations: inout FieldViolations) {
    violations.check(urls.count <= 20, field, "must hold at most 20 URLs")
    for (index, url) in urls.enumerated() {
      let valid =
        url.utf8.count <= 2048 && URLComponents(string: url).map { $0.scheme?.lowercased() == "https" && !($0.host ?? "").isEmpty } == true
      violations.check(valid, "\(field)[\(index)]", "must be an https URL of at most 2048 bytes")
    }
  }

  func attributes(_ attributes: [CommerceV1.ProductAttribute], _ field: String, _ violations: inout FieldViolations)
    -> [ProductRecord.Attribute]
  {
    violations.check(attributes.count <= 50, field, "must hold at most 50 attributes")
    var seen = Set<ProductRecord.Attribute>()
    var result: [ProductRecord.Attribute] = []
    for (index, attribute) in attributes.enumerated() {
      violations.check(Self.isAttributeName(attribute.name), "\(field)[\(index)].name", "must be lower_snake_case, 1 to 40 characters")
      violations.check(
        (1...100).contains(attribute.value.count) && !attribute.value.allSatisfy(\.isWhitespace), "\(field)[\(index)].value",
        "must be 1 to 100 characters, not only spaces")
      let value = ProductRecord.Attribute(name: attribute.name, value: attribute.value)
      if seen.insert(value).inserted { result.append(value) }
    }
    return result
  }

  func checkSKU(_ sku: String, _ field: String, _ violations: inout FieldViolations) {
    violations.check(sku.count <= 64, field, "must be at most 64 characters")
  }

  /// lower_snake_case, 1 to 40 characters, starting with a letter.
  static func isAttributeName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard (1...40).contains(bytes.count), let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
      return false
    }
    return bytes.allSatisfy { byte in
      (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        || byte == UInt8(ascii: "_")
    }
  }
}
