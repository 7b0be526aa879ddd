import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// All SQL of schema `inventory`. Each method is one statement, or one step of a transaction its
/// caller owns (the `in tx:` methods); values always travel as parameters.
///
/// Locking: a transaction that changes stock locks every stock row it touches before changing
/// any, in (product_id, warehouse_id) order (``lockStock(products:in:)``); a transaction that
/// finishes a reservation locks the reservation first, then its stock rows in that order. Two
/// transactions therefore never wait for each other in a cycle.
///
/// Every change of a stock row also appends a "stock.changed" event naming the product to the
/// schema's outbox in the same transaction; the relay (``StockRelay``) sends the product's
/// current level to the catalog.
struct InventoryStore: Sendable {
  let pool: PostgresPool
  let outbox = Outbox(schema: "inventory")

  /// The outbox topic of stock changes.
  static let stockChangedTopic = "stock.changed"

  struct StoreError: Error, CustomStringConvertible {
    static let corruptRow = StoreError(description: "an inventory row holds a value the code does not know")
    var description: String
  }

  // MARK: Warehouses

  private static let warehouseColumns = "id, code, name, region_code, created_at"

  private static func warehouse(_ row: PostgresRow) throws -> WarehouseRecord {
    WarehouseRecord(
      id: try row.decode(0, as: UUID.self), code: try row.decode(1, as: String.self), name: try row.decode(2, as: String.self),
      regionCode: try row.decode(3, as: String.self), createdAt: try row.decode(4, as: Date.self))
  }

  /// Adds a warehouse and returns it as stored; a taken code fails with the unique violation of
  /// `warehouses_code_key`.
  func insertWarehouse(_ warehouse: WarehouseRecord, in tx: PostgresTransaction) async throws -> WarehouseRecord {
    let rows = try await tx.query(
      "INSERT INTO inventory.warehouses (\(Self.warehouseColumns)) VALUES ($1, $2, $3, $4, $5) RETURNING \(Self.warehouseColumns)",
      [warehouse.id, warehouse.code, warehouse.name, warehouse.regionCode, warehouse.createdAt])
    guard let row = rows.first else { throw StoreError.corruptRow }
    return try Self.warehouse(row)
  }

  /// One page of warehouses by name, then id, after the position (name, id).
  func warehousePage(after: (name: String, id: UUID)?, limit: Int) async throws -> [WarehouseRecord] {
    let rows: PostgresRows
    if let after {
      rows = try await pool.query(
        "SELECT \(Self.warehouseColumns) FROM inventory.warehouses WHERE (name, id) > ($1, $2) ORDER BY name, id LIMIT $3",
        [after.name, after.id, Int64(limit)])
    } else {
      rows = try await pool.query(
        "SELECT \(Self.warehouseColumns) FROM inventory.warehouses ORDER BY name, id LIMIT $1", [Int64(limit)])
    }
    return try rows.map(Self.warehouse)
  }

  /// Which of these warehouses exist.
  func existingWarehouses(_ ids: [UUID]) async throws -> Set<UUID> {
    guard !ids.isEmpty else { return [] }
    let rows = try await pool.query("SELECT id FROM inventory.warehouses WHERE id = ANY($1)", [ids])
    return Set(try rows.map { try $0.decode(0, as: UUID.self) })
  }

  // MARK: Stock

  private static let stockColumns = "product_id, warehouse_id, on_hand, reserved, version, updated_at"

  private static func stock(_ row: PostgresRow) throws -> StockRow {
    StockRow(
      productID: try row.decode(0, as: String.self), warehouseID: try row.decode(1, as: UUID.self),
      onHand: try row.decode(2, as: Int64.self), reserved: try row.decode(3, as: Int64.self),
      version: try row.decode(4, as: Int64.self), updatedAt: try row.decode(5, as: Date.self))
  }

  /// The stock rows of these products (only in `warehouse`, when given), without locks.
  func stockRows(products: [String], warehouse: UUID?) async throws -> [StockRow] {
    guard !products.isEmpty else { return [] }
    let rows: PostgresRows
    if let warehouse {
      rows = try await pool.query(
        "SELECT \(Self.stockColumns) FROM inventory.stock WHERE product_id = ANY($1) AND warehouse_id = $2 ORDER BY product_id, warehouse_id",
        [products, warehouse])
    } else {
      rows = try await pool.query(
        "SELECT \(Self.stockColumns) FROM inventory.stock WHERE product_id = ANY($1) ORDER BY product_id, warehouse_id", [products])
    }
    return try rows.map(Self.stock)
  }

  /// Which of these products have at least one stock row.
  func productsWithStock(_ products: [String]) async throws -> Set<String> {
    guard !products.isEmpty else { return [] }
    let rows = try await pool.query("SELECT DISTINCT product_id FROM inventory.stock WHERE product_id = ANY($1)", [products])
    return Set(try rows.map { try $0.decode(0, as: String.self) })
  }

  /// Locks every stock row of these products, in (product_id, warehouse_id) order: the order
  /// every transaction that changes several rows takes their locks in (the sort runs below the
  /// row locking, so locks are taken in the order rows are returned).
  func lockStock(products: [String], in tx: PostgresTransaction) async throws -> [StockRow] {
    guard !products.isEmpty else { return [] }
    let match = PostgresKeyMatch("product_id", parameter: 1, products.sorted())
    let rows = try await tx.query(
      "SELECT \(Self.stockColumns) FROM inventory.stock WHERE \(match.condition) ORDER BY product_id, warehouse_id FOR UPDATE",
      [match.value])
    return try rows.map(Self.stock)
  }

  /// Locks one stock row, creating it (no units, version 1) when it does not exist yet; returns
  /// it with whether this transaction created it.
  func lockOrCreateStock(_ key: StockKey, now: Date, in tx: PostgresTransaction) async throws -> (row: StockRow, created: Bool) {
    let select = "SELECT \(Self.stockColumns) FROM inventory.stock WHERE product_id = $1 AND warehouse_id = $2 FOR UPDATE"
    if let row = try await tx.query(select, [key.productID, key.warehouseID]).first { return (try Self.stock(row), false) }
    let inserted = try await tx.query(
      """
      INSERT INTO inventory.stock (product_id, warehouse_id, on_hand, reserved, version, updated_at) VALUES ($1, $2, 0, 0, 1, $3)
      ON CONFLICT (product_id, warehouse_id) DO NOTHING RETURNING \(Self.stockColumns)
      """, [key.productID, key.warehouseID, now])
    if let row = inserted.first { return (try Self.stock(row), true) }
    // Created by a concurrent transaction since the first read: lock that one.
    guard let row = try await tx.query(select, [key.productID, key.warehouseID]).first else { throw StoreError.corruptRow }
    return (try Self.stock(row), false)
  }

  /// Writes a locked stock row's new counts with the given version, and records the change in
  /// the ledger. Returns the row as stored. One round trip (``stockWrites(_:onHand:reserved:version:now:ledger:)``).
  func writeStock(
    _ row: StockRow, onHand: Int64, reserved: Int64, version: Int64, now: Date, ledger: LedgerEntry, in tx: PostgresTransaction
  ) async throws -> StockRow {
    let updated = try await tx.query(
      stockWrites(row, onHand: onHand, reserved: reserved, version: version, now: now, ledger: ledger))
    guard let first = updated.first else { throw StoreError.corruptRow }
    return try Self.stock(first)
  }

  /// The statements of ``writeStock(_:onHand:reserved:version:now:ledger:in:)``, for a batch: the
  /// ledger entry, the "stock.changed" event, and last the row's update, which returns the row
  /// as stored (the counts the ledger records are the ones the update sets).
  func stockWrites(
    _ row: StockRow, onHand: Int64, reserved: Int64, version: Int64, now: Date, ledger: LedgerEntry
  ) throws -> [PostgresTransaction.Statement] {
    [
      try PostgresTransaction.Statement(
        """
        INSERT INTO inventory.stock_ledger (product_id, warehouse_id, kind, reason, on_hand_delta, reserved_delta, on_hand_after,
          reserved_after, reservation_id, actor, note, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """,
        [
          row.productID, row.warehouseID, ledger.kind.rawValue, ledger.reason, onHand - row.onHand, reserved - row.reserved,
          onHand, reserved, ledger.reservationID, ledger.actor, ledger.note, now,
        ]),
      try outbox.appending([
        Outbox.NewEvent(CommerceV1.StockLevel.with { $0.productId = row.productID }, topic: Self.stockChangedTopic, aggregateID: row.productID)
      ])!,
      try PostgresTransaction.Statement(
        """
        UPDATE inventory.stock SET on_hand = $3, reserved = $4, version = $5, updated_at = greatest($6, updated_at)
        WHERE product_id = $1 AND warehouse_id = $2 RETURNING \(Self.stockColumns)
        """, [row.productID, row.warehouseID, onHand, reserved, version, now]),
    ]
  }

  /// One ledger entry of a reservation batch: a row's reserved units grew by `reservedDelta`,
  /// leaving `after`.
  struct BatchLedgerEntry: Sendable {
    var key: StockKey
    var reservedDelta: Int64
    var after: StockRow
    var reservationID: UUID
    var actor: String
  }

  /// The statements that write a reservation batch: one for the locked stock rows' new counts
  /// and versions, the reservations and their allocations and the ledger entries, then one
  /// "stock.changed" outbox event per product changed (``Outbox/appending(_:notifying:)``).
  /// Empty when the batch changed nothing. For the transaction's last batch of statements.
  func reservationBatchWrites(
    changed: [StockRow], reservations: [ReservationRecord], ledger: [BatchLedgerEntry], now: Date
  ) throws -> [PostgresTransaction.Statement] {
    guard !changed.isEmpty || !reservations.isEmpty else { return [] }
    let allocations = reservations.flatMap { reservation in reservation.allocations.map { (reservation.id, $0) } }
    let events = try Array(Set(changed.map(\.productID))).sorted().map { product in
      try Outbox.NewEvent(CommerceV1.StockLevel.with { $0.productId = product }, topic: Self.stockChangedTopic, aggregateID: product)
    }
    let write = try PostgresTransaction.Statement(
      """
      WITH stock AS (
        UPDATE inventory.stock AS s SET reserved = u.reserved, version = u.version, updated_at = greatest($1, s.updated_at)
        FROM unnest($2::text[], $3::uuid[], $4::int8[], $5::int8[]) AS u (product_id, warehouse_id, reserved, version)
        WHERE s.product_id = u.product_id AND s.warehouse_id = u.warehouse_id RETURNING 1),
      reservations AS (
        INSERT INTO inventory.reservations (id, order_id, status, created_at, expires_at)
        SELECT id, order_id, 'ACTIVE', $1, expires_at FROM unnest($6::uuid[], $7::text[], $8::timestamptz[]) AS r (id, order_id, expires_at)
        RETURNING 1),
      allocations AS (
        INSERT INTO inventory.reservation_allocations (reservation_id, line_index, product_id, warehouse_id, quantity)
        SELECT * FROM unnest($9::uuid[], $10::int4[], $11::text[], $12::uuid[], $13::int8[]) RETURNING 1),
      ledger AS (
        INSERT INTO inventory.stock_ledger (product_id, warehouse_id, kind, on_hand_delta, reserved_delta, on_hand_after,
          reserved_after, reservation_id, actor, created_at)
        SELECT product_id, warehouse_id, 'RESERVE', 0, delta, on_hand, reserved, reservation_id, actor, $1
        FROM unnest($14::text[], $15::uuid[], $16::int8[], $17::int8[], $18::int8[], $19::uuid[], $20::text[])
          WITH ORDINALITY AS l (product_id, warehouse_id, delta, on_hand, reserved, reservation_id, actor, position)
        ORDER BY position RETURNING 1)
      SELECT (SELECT count(*) FROM stock), (SELECT count(*) FROM reservations), (SELECT count(*) FROM allocations),
        (SELECT count(*) FROM ledger)
      """,
      [
        now, changed.map(\.productID), changed.map(\.warehouseID), changed.map(\.reserved), changed.map(\.version),
        reservations.map(\.id), reservations.map(\.orderID), reservations.map(\.expiresAt),
        allocations.map(\.0), allocations.map(\.1.lineIndex), allocations.map(\.1.productID), allocations.map(\.1.warehouseID),
        allocations.map(\.1.quantity),
        ledger.map(\.key.productID), ledger.map(\.key.warehouseID), ledger.map(\.reservedDelta), ledger.map(\.after.onHand),
        ledger.map(\.after.reserved), ledger.map(\.reservationID), ledger.map(\.actor),
      ])
    return [write] + [try outbox.appending(events)].compactMap { $0 }
  }

  /// The catalog's view of these products' stock: units available across warehouses, and a
  /// version that grows with every change of any of the product's rows (the sum of the rows'
  /// versions: rows are never deleted and each change adds one to one row).
  func stockLevels(products: [String]) async throws -> [CommerceV1.StockLevel] {
    guard !products.isEmpty else { return [] }
    return try await pool.query(
      """
      SELECT product_id, sum(on_hand - reserved)::int8, sum(version)::int8 FROM inventory.stock
      WHERE product_id = ANY($1) GROUP BY product_id ORDER BY product_id
      """, [products]
    ).map { row in
      CommerceV1.StockLevel.with {
        $0.productId = (try? row.decode(0, as: String.self)) ?? ""
        $0.availableQuantity = (try? row.decode(1, as: Int64.self)) ?? 0
        $0.version = (try? row.decode(2, as: Int64.self)) ?? 0
      }
    }
  }

  /// The ledger of one stock row, oldest first (kind, on_hand delta, reserved delta, actor).
  func ledger(_ key: StockKey) async throws -> [(kind: String, onHandDelta: Int64, reservedDelta: Int64, actor: String)] {
    try await pool.query(
      """
      SELECT kind, on_hand_delta, reserved_delta, actor FROM inventory.stock_ledger
      WHERE product_id = $1 AND warehouse_id = $2 ORDER BY seq
      """, [key.productID, key.warehouseID]
    ).map { row in
      (try row.decode(0, as: String.self), try row.decode(1, as: Int64.self), try row.decode(2, as: Int64.self), try row.decode(3, as: String.self))
    }
  }

  // MARK: Reservations

  private static let reservationColumns = "id, order_id, status, created_at, expires_at, finished_at"

  private static let allocationsQuery = """
    SELECT line_index, product_id, warehouse_id, quantity FROM inventory.reservation_allocations
    WHERE reservation_id = $1 ORDER BY line_index, quantity DESC, warehouse_id
    """

  private static func reservation(_ row: PostgresRow, allocations: PostgresRows) throws -> ReservationRecord {
    try reservation(
      row,
      allocations: try allocations.map { a in
        Allocation(
          lineIndex: try a.decode(0, as: Int32.self), productID: try a.decode(1, as: String.self),
          warehouseID: try a.decode(2, as: UUID.self), quantity: try a.decode(3, as: Int64.self))
      })
  }

  /// A reservation, without locks.
  func reservation(_ id: UUID) async throws -> ReservationRecord? {
    guard let row = try await pool.query("SELECT \(Self.reservationColumns) FROM inventory.reservations WHERE id = $1", [id]).first
    else { return nil }
    return try Self.reservation(row, allocations: try await pool.query(Self.allocationsQuery, [id]))
  }

  /// Locks a reservation for change. One round trip: its allocations, which never change, are
  /// read beside the lock.
  func lockReservation(_ id: UUID, in tx: PostgresTransaction) async throws -> ReservationRecord? {
    async let locked = tx.query("SELECT \(Self.reservationColumns) FROM inventory.reservations WHERE id = $1 FOR UPDATE", [id])
    async let allocations = tx.query(Self.allocationsQuery, [id])
    guard let row = try await locked.first else { return nil }
    return try Self.reservation(row, allocations: try await allocations)
  }

  /// The statement that reads a reservation's row again, for the end of a batch; with the
  /// allocations read before, ``reservation(_:allocations:)-(PostgresRow,[Allocation])`` makes
  /// the record.
  static func reservationRead(_ id: UUID) throws -> PostgresTransaction.Statement {
    try PostgresTransaction.Statement("SELECT \(Self.reservationColumns) FROM inventory.reservations WHERE id = $1", [id])
  }

  /// A reservation from its row and allocations already read.
  static func reservation(_ row: PostgresRow, allocations: [Allocation]) throws -> ReservationRecord {
    guard let state = ReservationState(rawValue: try row.decode(2, as: String.self)) else { throw StoreError.corruptRow }
    return ReservationRecord(
      id: try row.decode(0, as: UUID.self), orderID: try row.decode(1, as: String.self), state: state,
      createdAt: try row.decode(3, as: Date.self), expiresAt: try row.decode(4, as: Date.self),
      finishedAt: try row.decode(5, as: Date?.self), allocations: allocations)
  }

  /// The statements that store a new reservation and its allocations, for a batch.
  static func reservationWrites(_ reservation: ReservationRecord) throws -> [PostgresTransaction.Statement] {
    let allocations = reservation.allocations
    return [
      try PostgresTransaction.Statement(
        "INSERT INTO inventory.reservations (id, order_id, status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        [reservation.id, reservation.orderID, reservation.state.rawValue, reservation.createdAt, reservation.expiresAt]),
      try PostgresTransaction.Statement(
        """
        INSERT INTO inventory.reservation_allocations (reservation_id, line_index, product_id, warehouse_id, quantity)
        SELECT $1, l, p, w, q FROM unnest($2::int4[], $3::text[], $4::uuid[], $5::int8[]) AS a (l, p, w, q)
        """,
        [reservation.id, allocations.map(\.lineIndex), allocations.map(\.productID), allocations.map(\.warehouseID), allocations.map(\.quantity)]),
    ]
  }

  /// Ends a locked active reservation in `state` at `at`.
  func finishReservation(_ id: UUID, state: ReservationState, at: Date, reason: String?, in tx: PostgresTransaction) async throws {
    try await tx.query([Self.finishWrite(id, state: state, at: at, reason: reason)])
  }

  /// The statement of ``finishReservation(_:state:at:reason:in:)``, for a batch.
  static func finishWrite(_ id: UUID, state: ReservationState, at: Date, reason: String?) throws -> PostgresTransaction.Statement {
    try PostgresTransaction.Statement(
      "UPDATE inventory.reservations SET status = $2, finished_at = $3, release_reason = $4 WHERE id = $1 AND status = 'ACTIVE'",
      [id, state.rawValue, at, reason])
  }

  /// Active reservations whose expiry is at or before `now`, soonest first, at most `limit`.
  func dueReservations(now: Date, limit: Int) async throws -> [UUID] {
    try await pool.query(
      "SELECT id FROM inventory.reservations WHERE status = 'ACTIVE' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
      [now, Int64(limit)]
    ).map { try $0.decode(0, as: UUID.self) }
  }

  /// The statement that moves a locked active reservation's expiry, for a batch.
  static func expiryWrite(_ id: UUID, to expiresAt: Date) throws -> PostgresTransaction.Statement {
    try PostgresTransaction.Statement("UPDATE inventory.reservations SET expires_at = $2 WHERE id = $1 AND status = 'ACTIVE'", [id, expiresAt])
  }
}
