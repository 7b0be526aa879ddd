import CommerceAPI
import CommerceKit
import Foundation
import RPC

/// The cart's limits and the rules that change its lines (cart.proto), as pure functions over
/// the lines so they are tested without a database. The store applies their result under the
/// cart's row lock, so they always see the committed lines.
enum CartRules {
  /// Lines per cart.
  static let maximumLines = 100
  /// Units per line.
  static let maximumQuantity: Int32 = 99
  /// Products per wishlist.
  static let maximumWishlistItems = 500
  /// How long a guest cart lives after its last change.
  static let guestCartLifetime: TimeInterval = 30 * 24 * 3600

  /// FAILED_PRECONDITION (CART_LIMIT) for a line that would hold `quantity` units.
  static func quantityLimit(_ productID: String, quantity: Int64) -> CommerceError {
    CommerceError(
      .failedPrecondition, .cartLimit, "a cart line holds at most \(maximumQuantity) units",
      metadata: ["productId": productID, "limit": String(maximumQuantity), "requested": String(quantity)]
    ).precondition(kind: "CART_LIMIT", subject: "product/\(productID)", "at most \(maximumQuantity) units per line")
  }

  /// FAILED_PRECONDITION (CART_LIMIT) for a cart that would hold more than 100 lines.
  static func lineLimit(_ productID: String) -> CommerceError {
    CommerceError(
      .failedPrecondition, .cartLimit, "a cart holds at most \(maximumLines) lines",
      metadata: ["productId": productID, "limit": String(maximumLines)]
    ).precondition(kind: "CART_LIMIT", subject: "cart", "at most \(maximumLines) lines per cart")
  }

  /// FAILED_PRECONDITION (WISHLIST_LIMIT).
  static func wishlistLimit() -> CommerceError {
    CommerceError(
      .failedPrecondition, .wishlistLimit, "a wishlist holds at most \(maximumWishlistItems) products",
      metadata: ["limit": String(maximumWishlistItems)]
    ).precondition(kind: "WISHLIST_LIMIT", subject: "wishlist", "at most \(maximumWishlistItems) products")
  }

  /// Adds `quantity` units of a product: more units on its line, or a new line at the end
  /// priced `price`. Throws CART_LIMIT instead of exceeding a limit.
  static func add(_ productID: String, quantity: Int32, price: Money, at now: Date, to lines: inout [CartLine]) throws(CommerceError) {
    if let index = lines.firstIndex(where: { $0.productID == productID }) {
      let total = Int64(lines[index].quantity) + Int64(quantity)
      guard total <= Int64(maximumQuantity) else { throw quantityLimit(productID, quantity: total) }
      lines[index].quantity = Int32(total)
    } else {
      guard quantity <= maximumQuantity else { throw quantityLimit(productID, quantity: Int64(quantity)) }
      guard lines.count < maximumLines else { throw lineLimit(productID) }
      lines.append(CartLine(productID: productID, quantity: quantity, priceAtAdd: price, addedAt: now))
    }
  }

  /// The outcome of merging a guest cart into a user's cart.
  struct Merge: Equatable {
    /// The user's lines after the merge.
    var lines: [CartLine]
    /// Guest lines that were added or raised a quantity.
    var mergedLineCount: Int
    /// Guest products that did not fit (100-line limit), in the guest cart's order.
    var dropped: [String]
  }

  /// The merge rule (cart.proto, MergeCarts): a product only in the guest cart is added with its
  /// guest quantity, keeping the guest line's price at add and time; a product in both gets the
  /// larger quantity, capped at 99; guest lines that would make more than 100 lines are dropped,
  /// the ones added last first.
  static func merge(guest: [CartLine], into user: [CartLine]) -> Merge {
    var lines = user
    var merged = 0
    var dropped: [String] = []
    var index = Dictionary(uniqueKeysWithValues: user.enumerated().map { ($1.productID, $0) })
    for line in guest {
      let quantity = min(line.quantity, maximumQuantity)
      if let existing = index[line.productID] {
        if quantity > lines[existing].quantity {
          lines[existing].quantity = quantity
          merged += 1
        }
      } else if lines.count < maximumLines {
        index[line.productID] = lines.count
        var added = line
        added.quantity = quantity
        lines.append(added)
        merged += 1
      } else {
        dropped.append(line.productID)
      }
    }
    return Merge(lines: lines, mergedLineCount: merged, dropped: dropped)
  }
}
