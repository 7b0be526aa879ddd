public import Foundation
public import Postgres

extension InventoryService {
  /// A warehouse to load.
  public struct BulkWarehouse: Sendable, Hashable {
    public var id: UUID
    /// 2 to 10 upper-case letters and digits, unique.
    public var code: String
    public var name: String
    /// An ISO 3166-1 alpha-2 code.
    public var regionCode: String
    public var createdAt: Date

    public init(id: UUID, code: String, name: String, regionCode: String, createdAt: Date) {
      self.id = id
      self.code = code
      self.name = name
      self.regionCode = regionCode
      self.createdAt = createdAt
    }
  }

  /// The stock of one product in one warehouse to load: `onHand` units, none reserved.
  public struct BulkStock: Sendable, Hashable {
    /// The catalog's product id, as it travels (a lower-case UUID).
    public var productID: String
    /// One of the warehouses loaded with it.
    public var warehouseID: UUID
    /// At least 0; a row of 0 units says the product is out of stock there.
    public var onHand: Int64

    public init(productID: String, warehouseID: UUID, onHand: Int64) {
      self.productID = productID
      self.warehouseID = warehouseID
      self.onHand = onHand
    }
  }

  /// How far ``bulkLoad(warehouses:stock:pool:at:actor:progress:)`` has come.
  public enum BulkLoadProgress: Sendable, Hashable {
    /// Stock rows copied so far.
    case stockCopied(Int)
    /// The ledger entries and the outbox events (one per product) are being written.
    case recordingChanges
  }

  /// Why a bulk load was refused before anything was written.
  public struct BulkLoadError: Error, CustomStringConvertible {
    public var description: String
  }

  /// Loads warehouses and stock into an empty inventory schema, fast, in one transaction
  /// (nothing is loaded if any row fails): warehouses and stock rows (`onHand` units, none
  /// reserved, version 1) with `COPY`, one ledger entry per stock row (kind SET, by `actor`)
  /// set-based from the rows, and one "stock.changed" outbox event per product with `COPY`; the
  /// tables are analyzed afterwards. For operators and the composition root (`emporium seed`);
  /// the service's own writes go through SetStock and AdjustStock.
  ///
  /// How the catalog learns the levels: through the outbox, as for every other stock change.
  /// The events are written in the load's transaction, so they exist exactly when the stock
  /// does, and the relay (``StockRelay``) of the first process that hosts the service sends
  /// them when it starts: it drains the outbox at start, 500 products per RecordStockLevels
  /// call, each product's level computed from the rows as for any change (available across
  /// warehouses, version = the sum of the rows' versions). A product whose rows hold 0 units
  /// everywhere is thus recorded as out of stock. The catalog needs no bulk path of its own
  /// and never learns levels the inventory does not hold; the cost is that until the relay has
  /// drained (one call per 500 products after `emporium serve` starts), the catalog knows no
  /// level for the loaded products: GetProduct's availability is unspecified and search counts
  /// them in stock. Handing the levels to the catalog from here instead would need a second
  /// bulk path in the catalog, fed numbers it would have to trust to agree with the rows.
  ///
  /// `stock` is read once, as the COPY streams (so a lazy sequence keeps memory flat); rows of
  /// one product should come together (events are written in the order products first appear).
  /// Product ids are not checked with the catalog. The pool's migrations must have run.
  ///
  /// - Parameters:
  ///   - at: when the stock was recorded (the rows' update and the ledger entries' time).
  ///   - actor: the ledger entries' actor, "service:<name>" or "user:<id>".
  /// - Returns: The number of stock rows loaded.
  /// - Throws: ``BulkLoadError`` when the inventory already holds warehouses, stock, ledger
  ///   entries or reservations, or `actor` is empty; ``PostgresError`` when a row breaks a rule
  ///   of the schema (a duplicate code or (product, warehouse), an unknown warehouse, negative
  ///   units...).
  @discardableResult
  public static func bulkLoad(
    warehouses: [BulkWarehouse], stock: some Sequence<BulkStock>, pool: PostgresPool, at: Date = Date(),
    actor: String = "service:seed", progress: (BulkLoadProgress) -> Void = { _ in }
  ) async throws -> Int {
    guard !actor.isEmpty else { throw BulkLoadError(description: "the ledger entries need an actor") }
    let store = InventoryStore(pool: pool)
    guard try await store.isEmpty() else {
      throw BulkLoadError(
        description: "the inventory already holds warehouses, stock, ledger entries or reservations; bulk load needs an empty one")
    }
    let loaded = try await store.copyInventory(
      warehouses: warehouses, stock: stock, at: at, actor: actor, progress: { progress(.stockCopied($0)) },
      recordingChanges: { progress(.recordingChanges) })
    try await store.analyzeInventory()
    return loaded
  }
}
