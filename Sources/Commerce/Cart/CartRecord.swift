import CommerceKit
import Foundation

/// A stored cart: a user's persistent cart or a guest cart, with its lines oldest first.
struct CartRecord: Sendable, Hashable {
  /// The cart's own id (a guest never sees it: guests hold ``GuestCartToken`` instead).
  var id: UUID
  /// The owner; nil for a guest cart.
  var userID: String?
  var version: Int64
  var createdAt: Date
  var updatedAt: Date
  /// One line per product, in the order they were first added.
  var lines: [CartLine]
}

/// One product line of a stored cart.
struct CartLine: Sendable, Hashable {
  var productID: String
  /// 1 to ``CartRules/maximumQuantity``.
  var quantity: Int32
  /// The unit price when the line was first added.
  var priceAtAdd: Money
  var addedAt: Date
}

/// One stored wishlist entry.
struct WishlistEntry: Sendable, Hashable {
  var productID: String
  /// The product's price when it was saved.
  var priceAtAdd: Money
  var addedAt: Date
  /// The keyset position: larger is newer.
  var sequence: Int64
}
