import CommerceAPI
import CommerceKit
import Foundation
import Messages
import Postgres

/// The SQL of ``InventoryService/bulkLoad(warehouses:stock:pool:at:actor:progress:)``:
/// warehouses and stock with `COPY`, their ledger entries set-based from the rows, and one
/// "stock.changed" outbox event per product with `COPY`, in one transaction.
extension InventoryStore {
  /// Rows per COPY chunk are sent once they hold about this many bytes.
  static let copyChunkBytes = 1 << 20

  /// Whether the inventory holds no warehouse, stock row, ledger entry or reservation yet.
  func isEmpty() async throws -> Bool {
    try await pool.query(
      """
      SELECT NOT EXISTS (SELECT 1 FROM inventory.warehouses) AND NOT EXISTS (SELECT 1 FROM inventory.stock)
        AND NOT EXISTS (SELECT 1 FROM inventory.stock_ledger) AND NOT EXISTS (SELECT 1 FROM inventory.reservations)
      """
    ).scalar(as: Bool.self) ?? false
  }

  /// Copies the warehouses and the stock rows (none reserved, version 1, updated `at`), writes
  /// one SET ledger entry per row by `actor` and one "stock.changed" outbox event per product
  /// (in the order products first appear, with the outbox's NOTIFY), in one transaction; calls
  /// `progress` with the rows copied so far after each chunk, and `recordingChanges` before the
  /// ledger and the events. Returns the number of rows copied.
  func copyInventory(
    warehouses: [InventoryService.BulkWarehouse], stock: some Sequence<InventoryService.BulkStock>, at: Date, actor: String,
    progress: (Int) -> Void, recordingChanges: () -> Void
  ) async throws -> Int {
    try await pool.withTransaction(maxAttempts: 1) { tx in
      try await tx.copyFrom("COPY inventory.warehouses (id, code, name, region_code, created_at) FROM STDIN") { writer in
        var rows = PostgresCopyRows(capacity: 64 * 1024)
        for warehouse in warehouses {
          rows.append(warehouse.id)
          rows.append(warehouse.code)
          rows.append(warehouse.name)
          rows.append(warehouse.regionCode)
          rows.append(warehouse.createdAt)
          rows.endRow()
        }
        try await writer.write(&rows)
      }
      var copied = 0
      var products: [String] = []
      var seen: Set<String> = []
      try await tx.copyFrom(
        "COPY inventory.stock (product_id, warehouse_id, on_hand, reserved, version, updated_at) FROM STDIN"
      ) { writer in
        var rows = PostgresCopyRows(capacity: Self.copyChunkBytes + 64 * 1024)
        for row in stock {
          if products.last != row.productID && seen.insert(row.productID).inserted { products.append(row.productID) }
          rows.append(row.productID)
          rows.append(row.warehouseID)
          rows.append(row.onHand)
          rows.append(Int64(0))
          rows.append(Int64(1))
          rows.append(at)
          rows.endRow()
          if rows.bytes.count >= Self.copyChunkBytes {
            copied += rows.rowCount
            try await writer.write(&rows)
            progress(copied)
          }
        }
        copied += rows.rowCount
        try await writer.write(&rows)
        progress(copied)
      }
      recordingChanges()
      try await tx.query(
        """
        INSERT INTO inventory.stock_ledger (product_id, warehouse_id, kind, on_hand_delta, reserved_delta, on_hand_after,
          reserved_after, actor, created_at)
        SELECT product_id, warehouse_id, 'SET', on_hand, 0, on_hand, 0, $1, $2 FROM inventory.stock
        ORDER BY product_id, warehouse_id
        """, [actor, at])
      // The events the relay reads: the same as a SetStock's (the product's id as payload).
      try await tx.copyFrom("COPY inventory.outbox (topic, aggregate_id, payload) FROM STDIN") { writer in
        var rows = PostgresCopyRows(capacity: Self.copyChunkBytes + 64 * 1024)
        for product in products {
          rows.append(Self.stockChangedTopic)
          rows.append(product)
          rows.append(Self.byteaText(try CommerceV1.StockLevel.with { $0.productId = product }.serializedBytes()))
          rows.endRow()
          if rows.bytes.count >= Self.copyChunkBytes { try await writer.write(&rows) }
        }
        try await writer.write(&rows)
      }
      try await outbox.queueCopiedEvents(in: tx)
      return copied
    }
  }

  /// Refreshes the planner's statistics of the tables just loaded.
  func analyzeInventory() async throws {
    try await pool.query(
      "ANALYZE inventory.warehouses, inventory.stock, inventory.stock_ledger, inventory.outbox, inventory.outbox_pending")
  }

  /// `bytes` in bytea's hex input form (`\x0a24…`).
  static func byteaText(_ bytes: [UInt8]) -> String { "\\x" + bytes.hexDigits }
}
