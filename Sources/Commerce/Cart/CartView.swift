import CommerceAPI
import CommerceKit
import Foundation
import Messages
import RPC

/// What the catalog said about a product (BatchGetProducts): the product and its summary.
struct CatalogEntry: Sendable {
  var product: CommerceV1.Product
  var summary: CommerceV1.ProductSummary

  /// The current unit price.
  var price: Money {
    let price = product.price ?? .init()
    return Money(amountMinor: price.amountMinor, currency: price.currency)
  }

  /// Whether the product is listed (ACTIVE); drafts and archived products are not purchasable.
  var isPurchasable: Bool { product.status == .active }

  /// Whether a cart line of the product can be bought now.
  var isAvailable: Bool { isPurchasable && summary.inStock }
}

/// The catalog's answer for a set of products, read outside any cart transaction.
struct CatalogSnapshot: Sendable {
  /// The products the catalog returned, by id.
  var entries: [String: CatalogEntry] = [:]
  /// The ids the catalog does not know (or will not show).
  var missing: Set<String> = []

  subscript(_ productID: String) -> CatalogEntry? { entries[productID] }

  /// Whether the snapshot answers for every product of `ids`.
  func covers(_ ids: some Sequence<String>) -> Bool {
    ids.allSatisfy { entries[$0] != nil || missing.contains($0) }
  }

  /// The product as something that may be added to a cart, or the error AddCartItem reports:
  /// NOT_FOUND for an unknown product, FAILED_PRECONDITION PRODUCT_NOT_PURCHASABLE for a draft or
  /// archived one, INSUFFICIENT_STOCK when no unit is available at all.
  func purchasable(_ productID: String, quantity: Int32) throws(CommerceError) -> CatalogEntry {
    guard let entry = entries[productID] else { throw .notFound("product", productID) }
    guard entry.isPurchasable else {
      let status = CommerceV1.ProductStatus.protoValueNames[entry.product.status.rawValue] ?? "PRODUCT_STATUS_UNSPECIFIED"
      throw CommerceError(
        .failedPrecondition, .productNotPurchasable, "product '\(productID)' is not purchasable", metadata: ["productId": productID]
      ).precondition(kind: "PRODUCT_NOT_PURCHASABLE", subject: "product/\(productID)", "the product is \(status)")
    }
    guard entry.summary.inStock else {
      throw CommerceError(
        .failedPrecondition, .insufficientStock, "product '\(productID)' is out of stock",
        metadata: ["productId": productID, "requested": String(quantity), "available": "0"]
      ).precondition(kind: "INSUFFICIENT_STOCK", subject: "product/\(productID)", "requested \(quantity), available 0")
    }
    return entry
  }
}

/// Builds the contract's Cart and WishlistItem from stored records and the catalog's current
/// data. Pure: the caller reads both first.
enum CartView {
  /// The cart message. `record` nil is a cart not stored yet (empty, version 0, no times).
  /// Lines whose product the catalog no longer shows keep their price at add as unit price and
  /// are unavailable; so are lines priced in another currency than `currency`, which the
  /// subtotal could not add.
  static func cart(
    _ record: CartRecord?, cartID: String, userID: String?, catalog: CatalogSnapshot, currency: String
  ) throws(CommerceError) -> CommerceV1.Cart {
    var cart = CommerceV1.Cart()
    cart.cartId = cartID
    cart.userId = userID ?? ""
    var subtotal = Money.zero(currency)
    var totalQuantity: Int32 = 0
    for line in record?.lines ?? [] {
      let entry = catalog[line.productID]
      let unitPrice = entry?.price ?? line.priceAtAdd
      let lineTotal = try unitPrice.multiplied(by: Int64(line.quantity))
      let available = (entry?.isAvailable ?? false) && unitPrice.currency == currency
      if available { subtotal = try subtotal.adding(lineTotal) }
      totalQuantity += line.quantity
      cart.items.append(.with {
        $0.productId = line.productID
        $0.product = entry?.summary ?? .with { $0.productId = line.productID }
        $0.quantity = line.quantity
        $0.unitPrice = unitPrice.proto
        $0.lineTotal = lineTotal.proto
        $0.priceAtAdd = line.priceAtAdd.proto
        $0.available = available
        $0.addTime = .init(line.addedAt)
      })
    }
    cart.subtotal = subtotal.proto
    cart.totalQuantity = totalQuantity
    if let record {
      cart.version = record.version
      cart.createTime = .init(record.createdAt)
      cart.updateTime = .init(record.updatedAt)
      if record.userID == nil { cart.expireTime = .init(record.updatedAt.addingTimeInterval(CartRules.guestCartLifetime)) }
    }
    return cart
  }

  /// The wishlist item message.
  static func item(_ entry: WishlistEntry, catalog: CatalogSnapshot) -> CommerceV1.WishlistItem {
    .with {
      $0.productId = entry.productID
      $0.product = catalog[entry.productID]?.summary ?? .with { $0.productId = entry.productID }
      $0.priceAtAdd = entry.priceAtAdd.proto
      $0.addTime = .init(entry.addedAt)
    }
  }
}
