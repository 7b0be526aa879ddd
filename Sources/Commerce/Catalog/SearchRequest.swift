import CommerceAPI
import Messages
import CommerceKit
import Foundation

/// A SearchProducts request, validated and normalised (catalog.proto: SearchProducts).
struct SearchRequest: Sendable {
  var text: SearchText
  var exactTitle: String
  var sellerIDs: [UUID]
  var categoryIDs: [UUID]
  var minPrice: Int64?
  var maxPrice: Int64?
  var minRating: Double?
  var inStockOnly: Bool
  var attributeFilters: [(name: String, keys: [String])]
  var facetAttributeNames: [String]
  var sort: CatalogStore.SearchPlan.Sort
  var pageSize: Int

  init(_ request: CommerceV1.SearchProductsRequest, currency: String) throws(CommerceError) {
    var violations = FieldViolations()
    var mismatch = false
    violations.check(request.query.count <= 200, "query", "must be at most 200 characters")
    var sellers: [UUID] = []
    for (index, id) in request.sellerIds.enumerated() {
      if let id = UUID(id: id) { sellers.append(id) } else { violations.add("seller_ids[\(index)]", "must be a user id") }
    }
    var categories: [UUID] = []
    for (index, id) in request.categoryIds.enumerated() {
      if let id = UUID(id: id) { categories.append(id) } else { violations.add("category_ids[\(index)]", "must be a category id") }
    }
    func bound(_ money: CommerceV1.Money?, _ field: String) -> Int64? {
      guard let money else { return nil }
      guard let value = Money.validated(money, field: field, into: &violations) else { return nil }
      guard value.currency == currency else {
        violations.add(field + ".currency", "must be the catalog currency \(currency)")
        mismatch = true
        return nil
      }
      return value.amountMinor
    }
    minPrice = bound(request.priceRange?.minPrice, "price_range.min_price")
    maxPrice = bound(request.priceRange?.maxPrice, "price_range.max_price")
    if let minPrice, let maxPrice, minPrice > maxPrice {
      violations.add("price_range", "min_price must not be above max_price")
    }
    violations.check((0...5).contains(request.minRating), "min_rating", "must be from 0 to 5")
    minRating = request.minRating > 0 ? request.minRating : nil
    violations.check(request.attributeFilters.count <= 20, "attribute_filters", "must hold at most 20 filters")
    var filters: [String: Set<String>] = [:]
    var order: [String] = []
    for (index, filter) in request.attributeFilters.enumerated() {
      let name = filter.name.lowercased()
      violations.check(ProductRules.isAttributeName(name), "attribute_filters[\(index)].name", "must be an attribute name")
      violations.check((1...50).contains(filter.values.count), "attribute_filters[\(index)].values", "must hold 1 to 50 values")
      if filters[name] == nil { order.append(name) }
      filters[name, default: []].formUnion(filter.values.map { name + "=" + $0.lowercased() })
    }
    attributeFilters = order.map { ($0, filters[$0]!.sorted()) }
    violations.check(request.facetAttributeNames.count <= 10, "facet_attribute_names", "must hold at most 10 names")
    for (index, name) in request.facetAttributeNames.enumerated() {
      violations.check(ProductRules.isAttributeName(name.lowercased()), "facet_attribute_names[\(index)]", "must be an attribute name")
    }
    facetAttributeNames = request.includeFacets ? request.facetAttributeNames.map { $0.lowercased() } : []
    var size = 24
    do {
      size = try PageToken.pageSize(request.pageSize, default: 24, maximum: 100)
    } catch {
      violations.add("page_size", "must not be negative")
    }
    pageSize = size
    text = SearchText(request.query)
    exactTitle = request.query.trimmingCharacters(in: .whitespaces).lowercased()
    switch request.sort {
    case .relevance: sort = text.isEmpty ? .newest : .relevance
    case .priceAscending: sort = .priceAscending
    case .priceDescending: sort = .priceDescending
    case .newest: sort = .newest
    case .rating: sort = .rating
    case .unspecified: sort = text.isEmpty ? .newest : .relevance
    default:
      sort = .newest
      violations.add("sort", "is not a known sort order")
    }
    sellerIDs = Array(Set(sellers)).sorted { $0.uuidString < $1.uuidString }
    categoryIDs = Array(Set(categories)).sorted { $0.uuidString < $1.uuidString }
    inStockOnly = request.inStockOnly
    if !violations.isEmpty { throw .invalidArgument(violations, reason: mismatch ? .currencyMismatch : nil) }
  }

  func criteria(tsquery: String?) -> CatalogStore.SearchPlan.Criteria {
    CatalogStore.SearchPlan.Criteria(
      tsquery: tsquery, exactTitle: exactTitle, sellerIDs: sellerIDs, categoryIDs: categoryIDs, minPrice: minPrice,
      maxPrice: maxPrice, minRating: minRating, inStockOnly: inStockOnly, attributeFilters: attributeFilters, sort: sort,
      facetAttributeNames: facetAttributeNames)
  }

  /// What a page token is bound to: everything that selects and orders the results.
  var binding: String {
    PageToken.binding(
      "SearchProducts",
      [
        text.display, sort.rawValue, sellerIDs.map(\.uuidString).joined(separator: ","),
        categoryIDs.map(\.uuidString).joined(separator: ","), minPrice.map(String.init) ?? "", maxPrice.map(String.init) ?? "",
        minRating.map { String($0) } ?? "", String(inStockOnly),
        attributeFilters.map { $0.keys.joined(separator: ",") }.joined(separator: ";"),
      ])
  }
}

/// Price facet buckets: the facet statement counts products per friendly band (1, 2, 5, 10, 20,
/// 50, ... minor units); adjacent bands are merged into about five buckets of similar counts, so
/// bounds stay friendly amounts.
enum PriceBuckets {
  static func merge(_ bands: [(index: Int, count: Int64)], currency: String, buckets target: Int = 5) -> [CommerceV1.PriceBucket] {
    let bounds = CatalogStore.SearchPlan.priceBandBounds
    let sorted = bands.filter { $0.count > 0 }.sorted { $0.index < $1.index }
    let total = sorted.reduce(0) { $0 + $1.count }
    guard total > 0 else { return [] }
    // Band i (width_bucket) holds prices in [bounds[i-1], bounds[i]); band 0 is below 1.
    func lower(_ band: Int) -> Int64 { band <= 0 ? 0 : bounds[min(band, bounds.count) - 1] }
    var groups: [(first: Int, count: Int64)] = []
    var cumulative: Int64 = 0
    for band in sorted {
      if groups.isEmpty || (groups.count < target && cumulative >= Int64(groups.count) * total / Int64(target)) {
        groups.append((band.index, 0))
      }
      groups[groups.count - 1].count += band.count
      cumulative += band.count
    }
    return groups.enumerated().map { index, group in
      .with {
        $0.minPrice = .with {
          $0.amountMinor = lower(group.first)
          $0.currency = currency
        }
        if index + 1 < groups.count {
          $0.maxPrice = .with {
            $0.amountMinor = lower(groups[index + 1].first)
            $0.currency = currency
          }
        }
        $0.count = group.count
      }
    }
  }
}
