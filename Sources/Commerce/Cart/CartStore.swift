import CommerceKit
import Foundation
import Postgres

/// All SQL of schema `cart`. Each method is one statement, or one step of a transaction its
/// caller owns (the `in tx:` methods), named for what it does; values always travel as
/// parameters. Changes to a cart happen under its row lock (``lockCart(_:create:now:in:)``),
/// changes to a wishlist under its `wishlists` row lock, and a transaction that takes both takes
/// the cart's first.
struct CartStore: Sendable {
  let pool: PostgresPool

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "a cart row holds a value the code does not know")
    var description: String
  }

  /// Which cart a call names.
  enum CartKey: Sendable, Hashable {
    /// A user's persistent cart.
    case user(String)
    /// A guest cart, by the hash of its secret id.
    case guest(hash: [UInt8])
  }

  // MARK: Carts

  private static let cartColumns = "c.id, c.user_id, c.version, c.created_at, c.updated_at"

  private static func cart(_ row: PostgresRow, lines: [CartLine]) throws -> CartRecord {
    CartRecord(
      id: try row.decode(0, as: UUID.self), userID: try row.decode(1, as: String?.self), version: try row.decode(2, as: Int64.self),
      createdAt: try row.decode(3, as: Date.self), updatedAt: try row.decode(4, as: Date.self), lines: lines)
  }

  private static let linesQuery = """
    SELECT product_id, quantity, price_at_add_minor, currency, added_at FROM cart.cart_lines
    WHERE cart_id = $1 ORDER BY added_at, seq
    """

  private static func lines(_ rows: PostgresRows) throws -> [CartLine] {
    try rows.map { row in
      CartLine(
        productID: try row.decode(0, as: String.self), quantity: try row.decode(1, as: Int32.self),
        priceAtAdd: Money(amountMinor: try row.decode(2, as: Int64.self), currency: try row.decode(3, as: String.self)),
        addedAt: try row.decode(4, as: Date.self))
    }
  }

  /// The lines of a cart, oldest first.
  private func lines(of cart: UUID) async throws -> [CartLine] {
    try Self.lines(try await pool.query(Self.linesQuery, [cart]))
  }

  /// The lines of a cart, oldest first, in a transaction.
  private func lines(of cart: UUID, in tx: PostgresTransaction) async throws -> [CartLine] {
    try Self.lines(try await tx.query(Self.linesQuery, [cart]))
  }

  /// What a guest cart's id finds.
  enum GuestLookup: Sendable {
    /// A usable guest cart.
    case open(CartRecord)
    /// A cart merged into this user's cart (MergeCarts).
    case merged(into: String)
    /// No cart, or one left unchanged for longer than its lifetime.
    case none
  }

  /// What a carts row (cartColumns, then merged_into) means at `now`; nil with its id when the
  /// cart is open and its lines are still to be read.
  private static func guest(_ row: PostgresRow?, now: Date) throws -> (GuestLookup, UUID?) {
    guard let row else { return (.none, nil) }
    let updatedAt = try row.decode(4, as: Date.self)
    guard now.timeIntervalSince(updatedAt) < CartRules.guestCartLifetime else { return (.none, nil) }
    if let user = try row.decode(5, as: String?.self) { return (.merged(into: user), nil) }
    return (.none, try row.decode(0, as: UUID.self))
  }

  /// The guest cart with this secret's hash, as of `now`.
  func guestCart(hash: [UInt8], now: Date) async throws -> GuestLookup {
    let row = try await pool.query(
      "SELECT \(Self.cartColumns), c.merged_into FROM cart.carts c WHERE c.guest_token_hash = $1", [hash]
    ).first
    let (lookup, open) = try Self.guest(row, now: now)
    guard let open, let row else { return lookup }
    return .open(try Self.cart(row, lines: try await lines(of: open)))
  }

  /// The user's cart, or nil when they have none yet.
  func userCart(_ userID: String) async throws -> CartRecord? {
    guard let row = try await pool.query("SELECT \(Self.cartColumns) FROM cart.carts c WHERE c.user_id = $1", [userID]).first else {
      return nil
    }
    return try Self.cart(row, lines: try await lines(of: try row.decode(0, as: UUID.self)))
  }

  /// A cart locked for change by the current transaction.
  struct LockedCart: Sendable {
    var record: CartRecord
    /// Whether this transaction created it (its first content keeps version 1).
    var created: Bool
  }

  /// Locks the cart `key` names, creating it first when `create` is set and it does not exist.
  /// Returns nil when it does not exist (and is not created), and for a guest cart that expired
  /// or was merged (use ``lockGuestCartForMerge(hash:now:in:)`` to tell these apart).
  func lockCart(_ key: CartKey, create: Bool, now: Date, in tx: PostgresTransaction) async throws -> LockedCart? {
    switch key {
    case .user(let userID):
      var created = false
      if create {
        created = try await !tx.query(
          """
          INSERT INTO cart.carts (id, user_id, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)
          ON CONFLICT (user_id) DO NOTHING RETURNING id
          """, [UUID(), userID, now]
        ).isEmpty
      }
      guard let row = try await tx.query("SELECT \(Self.cartColumns) FROM cart.carts c WHERE c.user_id = $1 FOR UPDATE", [userID]).first
      else { return nil }
      let record = try Self.cart(row, lines: try await lines(of: try row.decode(0, as: UUID.self), in: tx))
      return LockedCart(record: record, created: created)
    case .guest(let hash):
      if create {
        let id = UUID()
        try await tx.query(
          "INSERT INTO cart.carts (id, guest_token_hash, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)",
          [id, hash, now])
        return LockedCart(record: CartRecord(id: id, userID: nil, version: 1, createdAt: now, updatedAt: now, lines: []), created: true)
      }
      guard case .open(let record) = try await lockGuestCartForMerge(hash: hash, now: now, in: tx) else { return nil }
      return LockedCart(record: record, created: false)
    }
  }

  /// Locks the guest cart with this secret's hash and reports what it is.
  func lockGuestCartForMerge(hash: [UInt8], now: Date, in tx: PostgresTransaction) async throws -> GuestLookup {
    let row = try await tx.query(
      "SELECT \(Self.cartColumns), c.merged_into FROM cart.carts c WHERE c.guest_token_hash = $1 FOR UPDATE", [hash]
    ).first
    let (lookup, open) = try Self.guest(row, now: now)
    guard let open, let row else { return lookup }
    return .open(try Self.cart(row, lines: try await lines(of: open, in: tx)))
  }

  /// Stores `lines` as the locked cart's lines: deletes the lines that are gone, inserts the new
  /// ones and updates changed quantities, then gives the cart its next version (a cart created by
  /// this transaction keeps version 1). Returns the cart as stored; a cart whose lines did not
  /// change is returned as it was.
  func saveCart(_ locked: LockedCart, lines: [CartLine], now: Date, in tx: PostgresTransaction) async throws -> CartRecord {
    let current = locked.record
    guard lines != current.lines || locked.created else { return current }
    let kept = Set(lines.map(\.productID))
    let removed = current.lines.map(\.productID).filter { !kept.contains($0) }
    if !removed.isEmpty {
      try await tx.query("DELETE FROM cart.cart_lines WHERE cart_id = $1 AND product_id = ANY($2)", [current.id, removed])
    }
    let before = Dictionary(uniqueKeysWithValues: current.lines.map { ($0.productID, $0) })
    let written = lines.filter { before[$0.productID] != $0 }
    if !written.isEmpty {
      // Rows go in the order given, so lines added together keep their order (seq).
      try await tx.query(
        """
        INSERT INTO cart.cart_lines (cart_id, product_id, quantity, price_at_add_minor, currency, added_at)
        SELECT $1, p, q, m, c, a FROM unnest($2::text[], $3::int4[], $4::int8[], $5::text[], $6::timestamptz[])
          WITH ORDINALITY AS l (p, q, m, c, a, n) ORDER BY n
        ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = excluded.quantity
        """,
        [
          current.id, written.map(\.productID), written.map(\.quantity), written.map(\.priceAtAdd.amountMinor),
          written.map(\.priceAtAdd.currency), written.map(\.addedAt),
        ])
    }
    let version = locked.created ? current.version : current.version + 1
    let row = try await tx.query(
      "UPDATE cart.carts c SET version = $2, updated_at = greatest($3, c.updated_at) WHERE c.id = $1 RETURNING \(Self.cartColumns)",
      [current.id, version, now])
    guard let row = row.first else { throw StoreError.corruptRow }
    return try Self.cart(row, lines: try await self.lines(of: current.id, in: tx))
  }

  /// Marks a locked guest cart as merged into `userID`'s cart and deletes its lines; it can no
  /// longer be used, and it is swept with the other guest carts.
  func markMerged(_ guest: LockedCart, into userID: String, now: Date, in tx: PostgresTransaction) async throws {
    try await tx.query("DELETE FROM cart.cart_lines WHERE cart_id = $1", [guest.record.id])
    try await tx.query(
      """
      UPDATE cart.carts c SET merged_into = $2, merged_at = $3, version = c.version + 1, updated_at = greatest($3, c.updated_at)
      WHERE c.id = $1
      """, [guest.record.id, userID, now])
  }

  /// Deletes guest carts (open or merged) left unchanged since `cutoff`, at most `limit`; returns
  /// how many it deleted.
  func deleteGuestCarts(unchangedSince cutoff: Date, limit: Int) async throws -> Int {
    try await pool.query(
      """
      DELETE FROM cart.carts WHERE id IN (
        SELECT id FROM cart.carts WHERE user_id IS NULL AND updated_at < $1 ORDER BY updated_at LIMIT $2)
      RETURNING id
      """, [cutoff, Int64(limit)]
    ).count
  }

  // MARK: Wishlists

  private static func entry(_ row: PostgresRow) throws -> WishlistEntry {
    WishlistEntry(
      productID: try row.decode(0, as: String.self),
      priceAtAdd: Money(amountMinor: try row.decode(1, as: Int64.self), currency: try row.decode(2, as: String.self)),
      addedAt: try row.decode(3, as: Date.self), sequence: try row.decode(4, as: Int64.self))
  }

  private static let entryColumns = "product_id, price_at_add_minor, currency, added_at, seq"

  /// One page of a wishlist, newest first, after position `after` (a seq), with the number of
  /// products on the whole wishlist.
  func wishlistPage(_ userID: String, after: Int64?, limit: Int) async throws -> (entries: [WishlistEntry], total: Int32) {
    var sql = "SELECT \(Self.entryColumns) FROM cart.wishlist_items WHERE user_id = $1"
    var parameters: [any PostgresEncodable] = [userID]
    if let after {
      parameters.append(after)
      sql += " AND seq < $2"
    }
    parameters.append(Int64(limit))
    sql += " ORDER BY seq DESC LIMIT $\(parameters.count)"
    async let entries = pool.query(sql, parameters)
    async let count = pool.query("SELECT item_count FROM cart.wishlists WHERE user_id = $1", [userID])
    return (try await entries.map(Self.entry), try await count.first?.decode(0, as: Int32.self) ?? 0)
  }

  /// Locks the user's wishlist (creating its row) and returns how many products it holds.
  @discardableResult
  func lockWishlist(_ userID: String, in tx: PostgresTransaction) async throws -> Int {
    try await tx.query("INSERT INTO cart.wishlists (user_id, item_count) VALUES ($1, 0) ON CONFLICT (user_id) DO NOTHING", [userID])
    let row = try await tx.query("SELECT item_count FROM cart.wishlists WHERE user_id = $1 FOR UPDATE", [userID]).first
    return Int(try row?.decode(0, as: Int32.self) ?? 0)
  }

  /// The wishlist's entry for a product, in a transaction that locked the wishlist.
  func wishlistEntry(_ userID: String, product: String, in tx: PostgresTransaction) async throws -> WishlistEntry? {
    try await tx.query(
      "SELECT \(Self.entryColumns) FROM cart.wishlist_items WHERE user_id = $1 AND product_id = $2", [userID, product]
    ).first.map(Self.entry)
  }

  /// Saves a product on a locked wishlist that does not hold it yet; the schema refuses a 501st.
  func insertWishlistEntry(_ userID: String, product: String, price: Money, now: Date, in tx: PostgresTransaction) async throws
    -> WishlistEntry
  {
    try await tx.query("UPDATE cart.wishlists SET item_count = item_count + 1 WHERE user_id = $1", [userID])
    let row = try await tx.query(
      """
      INSERT INTO cart.wishlist_items (user_id, product_id, price_at_add_minor, currency, added_at) VALUES ($1, $2, $3, $4, $5)
      RETURNING \(Self.entryColumns)
      """, [userID, product, price.amountMinor, price.currency, now])
    guard let row = row.first else { throw StoreError.corruptRow }
    return try Self.entry(row)
  }

  /// Removes a product from a locked wishlist; returns whether it was there.
  func deleteWishlistEntry(_ userID: String, product: String, in tx: PostgresTransaction) async throws -> Bool {
    let deleted = try await tx.query(
      "DELETE FROM cart.wishlist_items WHERE user_id = $1 AND product_id = $2 RETURNING 1", [userID, product])
    if deleted.isEmpty { return false }
    try await tx.query("UPDATE cart.wishlists SET item_count = item_count - 1 WHERE user_id = $1", [userID])
    return true
  }
}
