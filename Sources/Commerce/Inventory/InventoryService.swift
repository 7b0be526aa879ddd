public import CommerceAPI
import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// InventoryService (inventory.proto): warehouses, stock per product and warehouse, and
/// reservations with expiry.
///
/// Handlers translate between the contract's messages and the domain; all SQL is in
/// `InventoryStore`, and products are known only through CatalogService.BatchGetProducts (their
/// existence and seller). Access rules are enforced by CommerceKit's `AuthInterceptor`;
/// handlers decide which products an owner may touch.
///
/// Decisions the contract leaves to the server:
/// - The catalog is never called inside a transaction (the pool is shared in-process): a call
///   reads the catalog first, then transacts. ReserveStock asks the catalog only about products
///   without any stock row: a product with a stock row exists (its first stock was recorded
///   after the catalog said so).
/// - Every change of stock locks the rows it touches in (product, warehouse) order, then
///   checks and writes; the schema's CHECK constraints hold 0 <= reserved <= on_hand as well.
///   Each change of a row adds one to its version and one entry to the stock ledger.
/// - SetStock to the value already stored changes nothing (same version, no ledger entry).
/// - AdjustStock's reason fixes the delta's sign where the contract says so (RECEIVED,
///   RETURN_RESTOCK and ORDER_CANCELLED add; DAMAGED and LOST remove).
/// - ReserveStock locks every stock row of the products it names (all warehouses), then
///   allocates line by line, in request order, from what earlier lines left.
/// - Hot products: concurrent ReserveStock calls are coalesced (``ReservationBatches``, on by
///   default, ``Configuration/coalesceReservations``): calls that arrive while a batch of their
///   lane is in flight are served together by the next batch, one transaction of a fixed
///   number of statements, each call answered on its own in arrival order. No timer: an
///   uncontended call runs at once. docs/DATABASE.md compares it with a plain row lock and
///   bucketed rows.
/// - A sweeper expires ACTIVE reservations past their expire_time every few seconds
///   (``Configuration/expirySweepInterval``). One it has not reached yet is expired by the first
///   Commit, Release or Extend that finds it: its units are given back and the call answers as
///   for an EXPIRED reservation. GetReservation reports it as stored. An expired reservation's
///   finish_time is its expire_time.
/// - Every stock change writes an outbox event in its transaction; the relay sends the changed
///   products' current levels (available across warehouses, version = the sum of the rows'
///   versions) to CatalogService.RecordStockLevels, woken by the outbox's NOTIFY.
/// - Idempotency scope: the caller (principal).
public struct InventoryService: CommerceV1.InventoryService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// A reservation's time to live when the request gives none.
    public var defaultTTL: Duration = .seconds(15 * 60)
    /// The ttl a reservation may ask for.
    public var ttlRange: ClosedRange<Int64> = 60...3600
    /// How long a reservation may live from its creation, extensions included.
    public var maximumLifetime: TimeInterval = 2 * 3600
    /// How often the sweeper expires reservations past their expire_time (once at start, then
    /// at this interval); nil: this process runs no sweeper, for a deployment where another
    /// replica does (Commit, Release and Extend still expire one they find past its time).
    public var expirySweepInterval: Duration? = .seconds(5)
    /// Whether concurrent ReserveStock calls are served in batches (group commit, see
    /// ``ReservationBatches``); off, each call is its own transaction queueing on the row locks.
    public var coalesceReservations = true
    /// The independent batch lanes; a call's lane is chosen by its first product.
    public var reservationLanes = 4
    /// The most calls one batch serves.
    public var maximumReservationBatch = 256

    public init() {}
  }

  let store: InventoryStore
  let idempotency: IdempotencyStore
  let catalog: CommerceV1.CatalogService.Client
  let configuration: Configuration
  let logger: Logger
  let now: @Sendable () -> Date
  /// ReserveStock's batches; nil when coalescing is off.
  let reservationBatches: Coalescer<ReservationBatches.Pending, ReservationBatches.Answer>?
  /// How many of them ran again claiming their keys first (``ReservationBatches``).
  let reservationBatchRerunCounter: ReservationBatches.Reruns?

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `inventory` only (migrated beforehand).
  ///   - catalog: CatalogService, for products' existence and sellers.
  public init(
    pool: PostgresPool, catalog: any ClientTransport, configuration: Configuration = .init(),
    logger: Logger = Logger(label: "emporium.inventory"), now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = InventoryStore(pool: pool)
    self.idempotency = IdempotencyStore(pool: pool, schema: "inventory")
    self.catalog = CommerceV1.CatalogService.Client(catalog)
    self.configuration = configuration
    self.logger = logger
    self.now = now
    if configuration.coalesceReservations {
      let batches = ReservationBatches(store: store, idempotency: idempotency, logger: logger, now: now)
      self.reservationBatches = Coalescer(
        lanes: configuration.reservationLanes, maximumBatch: configuration.maximumReservationBatch, execute: batches.execute)
      self.reservationBatchRerunCounter = batches.reruns
    } else {
      self.reservationBatches = nil
      self.reservationBatchRerunCounter = nil
    }
  }

  /// The background work the process runs beside the handlers: the expiry sweeper, the relay
  /// of stock levels to the catalog, and the outbox's retention.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    (configuration.expirySweepInterval == nil ? [] : [ExpirySweeper(service: self)])
      + [StockRelay(service: self), store.outbox.retention(pool: store.pool, logger: logger)]
  }

  /// ReserveStock's batches so far, all lanes together (batches served, calls in them, the
  /// largest batch); nil when coalescing is off. For benchmarks and operators.
  public var reservationBatchCounts: (batches: Int, calls: Int, largestBatch: Int)? {
    reservationBatches.map { coalescer in
      let statistics = coalescer.statistics
      return (statistics.batches, statistics.items, statistics.largestBatch)
    }
  }

  /// How many batches ran a second time, claiming their keys first, because another call held
  /// one of their keys (a retry); nil when coalescing is off.
  public var reservationBatchReruns: Int? { reservationBatchRerunCounter?.value }

  // MARK: Stock

  public func getStock(request: CommerceV1.GetStockRequest, context: ServerContext) async throws -> CommerceV1.GetStockResponse {
    guard (1...100).contains(request.productIds.count) else {
      throw CommerceError.invalidArgument(field: "product_ids", "must name 1 to 100 products")
    }
    var warehouse: UUID?
    if !request.warehouseId.isEmpty { warehouse = try await existingWarehouse(request.warehouseId) }
    let unique = Array(Set(request.productIds))
    let visible: [String]
    switch CallAuth.current?.admission {
    case .role?, .service?:
      visible = unique
    default:
      // Owners: a seller's own products; everything else reads as zero stock.
      let caller = try context.principal()
      if caller.kind == .user, caller.has(.seller) {
        let sellers = try await catalogSellers(unique)
        visible = unique.filter { sellers[$0] == caller.subject }
      } else {
        visible = []
      }
    }
    let rows = try await store.stockRows(products: visible, warehouse: warehouse)
    let byProduct = Dictionary(grouping: rows, by: \.productID)
    return .with {
      $0.stocks = request.productIds.map { productID in
        var found = byProduct[productID] ?? []
        if found.isEmpty, let warehouse {
          found = [StockRow(productID: productID, warehouseID: warehouse, onHand: 0, reserved: 0, version: 0, updatedAt: .distantPast)]
        }
        return .with {
          $0.productId = productID
          $0.warehouses = found.map(Self.message)
          $0.totalOnHand = found.reduce(0) { $0 + $1.onHand }
          $0.totalReserved = found.reduce(0) { $0 + $1.reserved }
          $0.totalAvailable = found.reduce(0) { $0 + $1.available }
        }
      }
    }
  }

  public func setStock(request: CommerceV1.SetStockRequest, context: ServerContext) async throws -> CommerceV1.SetStockResponse {
    var violations = FieldViolations()
    violations.check(!request.productId.isEmpty, "product_id", "is required")
    violations.check(!request.warehouseId.isEmpty, "warehouse_id", "is required")
    violations.check(request.onHand >= 0, "on_hand", "must be 0 or more")
    var expected: Int64?
    if case .expectedVersion(let version)? = request.writeCondition {
      violations.check(version >= 0, "expected_version", "must be 0 or more")
      expected = version
    }
    violations.check(request.note.count <= 500, "note", "must be at most 500 characters")
    try violations.throwIfAny()
    let caller = try context.principal()
    try await requireManager(of: request.productId)
    let key = StockKey(productID: request.productId, warehouseID: try await existingWarehouse(request.warehouseId))
    let stock = try await store.pool.withTransaction { tx in
      let now = now()
      let (row, created) = try await store.lockOrCreateStock(key, now: now, in: tx)
      let current = created ? 0 : row.version
      if let expected, expected != current { throw CommerceError.versionMismatch(current: current) }
      guard request.onHand >= row.reserved else { throw Self.belowReserved(key, onHand: request.onHand, reserved: row.reserved) }
      if !created, request.onHand == row.onHand { return row }
      return try await store.writeStock(
        row, onHand: request.onHand, reserved: row.reserved, version: created ? 1 : row.version + 1, now: now,
        ledger: LedgerEntry(kind: .set, actor: caller.description, note: request.note.isEmpty ? nil : request.note), in: tx)
    }
    return .with { $0.stock = Self.message(stock) }
  }

  public func adjustStock(request: CommerceV1.AdjustStockRequest, context: ServerContext) async throws
    -> CommerceV1.AdjustStockResponse
  {
    var violations = FieldViolations()
    violations.check(!request.productId.isEmpty, "product_id", "is required")
    violations.check(!request.warehouseId.isEmpty, "warehouse_id", "is required")
    violations.check(request.delta != 0, "delta", "must not be 0")
    let sign = Self.sign(of: request.reason)
    if let sign {
      if sign > 0 { violations.check(request.delta >= 0, "delta", "must be positive for this reason") }
      if sign < 0 { violations.check(request.delta <= 0, "delta", "must be negative for this reason") }
    } else {
      violations.add("reason", "must be a StockAdjustmentReason other than UNSPECIFIED")
    }
    violations.check(request.note.count <= 500, "note", "must be at most 500 characters")
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.InventoryService.AdjustStock.descriptor, key: request.idempotencyKey,
      request: request)
    try await requireManager(of: request.productId)
    let key = StockKey(productID: request.productId, warehouseID: try await existingWarehouse(request.warehouseId))
    return try await idempotency.run(call) { tx in
      let now = now()
      let (row, created) = try await store.lockOrCreateStock(key, now: now, in: tx)
      let (onHand, overflow) = row.onHand.addingReportingOverflow(request.delta)
      guard !overflow, onHand >= row.reserved, onHand >= 0 else {
        throw Self.belowReserved(key, onHand: overflow ? Int64.min : onHand, reserved: row.reserved)
      }
      let stock = try await store.writeStock(
        row, onHand: onHand, reserved: row.reserved, version: created ? 1 : row.version + 1, now: now,
        ledger: LedgerEntry(
          kind: .adjust, reason: Self.reasonName(request.reason), actor: caller.description,
          note: request.note.isEmpty ? nil : request.note), in: tx)
      return .with { $0.stock = Self.message(stock) }
    }
  }

  // MARK: Reservations

  public func reserveStock(request: CommerceV1.ReserveStockRequest, context: ServerContext) async throws
    -> CommerceV1.ReserveStockResponse
  {
    var violations = FieldViolations()
    violations.check(!request.orderId.isEmpty && request.orderId.count <= 64, "order_id", "must be 1 to 64 characters")
    violations.check((1...100).contains(request.lines.count), "lines", "must hold 1 to 100 lines")
    var seen = Set<[String]>()
    for (index, line) in request.lines.enumerated() {
      violations.check(!line.productId.isEmpty && line.productId.count <= 64, "lines[\(index)].product_id", "must be 1 to 64 characters")
      violations.check((1...999).contains(line.quantity), "lines[\(index)].quantity", "must be 1 to 999")
      violations.check(
        seen.insert([line.productId, line.warehouseId]).inserted, "lines[\(index)]",
        "names the same product and warehouse as an earlier line")
    }
    let ttl = request.ttl.map(Self.seconds) ?? Double(configuration.defaultTTL.components.seconds)
    violations.check(ttlAllowed(ttl), "ttl", "must be 1 minute to 1 hour")
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.InventoryService.ReserveStock.descriptor, key: request.idempotencyKey,
      request: request)

    var lineWarehouses: [UUID?] = []
    for line in request.lines {
      lineWarehouses.append(line.warehouseId.isEmpty ? nil : try Self.warehouseID(line.warehouseId))
    }
    let products = Array(Set(request.lines.map(\.productId))).sorted()
    if let reservationBatches {
      let pending = ReservationBatches.Pending(
        request: request, call: call, lineWarehouses: lineWarehouses, products: products, actor: caller.description, ttl: ttl,
        deadline: RPCDeadline.current)
      switch await reservationBatches.submit(pending, lane: ReservationBatches.lane(of: products, lanes: reservationBatches.laneCount)) {
      case .reserved(let response): return response
      case .failed(let error): throw error
      case .alone: break
      }
    }
    return try await reserveAlone(request, call: call, lineWarehouses: lineWarehouses, products: products, actor: caller.description, ttl: ttl)
  }

  /// ReserveStock as one transaction of its own: the path without coalescing, and for the calls
  /// a batch leaves to their caller.
  private func reserveAlone(
    _ request: CommerceV1.ReserveStockRequest, call: IdempotencyStore.Call, lineWarehouses: [UUID?], products: [String], actor: String,
    ttl: TimeInterval
  ) async throws -> CommerceV1.ReserveStockResponse {
    // Reads before the transaction: the warehouses named, and the products without stock rows.
    let named = Array(Set(lineWarehouses.compactMap { $0 }))
    let existing = try await store.existingWarehouses(named)
    if let missing = request.lines.first(where: { !$0.warehouseId.isEmpty && !existing.contains(UUID(id: $0.warehouseId)!) }) {
      throw CommerceError.notFound("warehouse", missing.warehouseId)
    }
    let stocked = try await store.productsWithStock(products)
    let unstocked = products.filter { !stocked.contains($0) }
    if !unstocked.isEmpty {
      let sellers = try await catalogSellers(unstocked)
      if let missing = request.lines.first(where: { !stocked.contains($0.productId) && sellers[$0.productId] == nil }) {
        throw CommerceError.notFound("product", missing.productId)
      }
    }

    return try await idempotency.run(call) { tx in
      let now = now()
      let rows = try await store.lockStock(products: products, in: tx)
      let allocations: [Allocation]
      switch Self.allocate(request.lines, warehouses: lineWarehouses, rows: rows, available: rows.reduce(into: [:]) { $0[$1.key] = $1.available }) {
      case .failure(let error): throw error
      case .success(let allocated): allocations = allocated.allocations
      }
      let reservation = ReservationRecord(
        id: UUID(), orderID: request.orderId, state: .active, createdAt: now, expiresAt: now.addingTimeInterval(ttl), finishedAt: nil,
        allocations: allocations)
      // The reservation, every stock row's change, and the reservation read back as stored
      // (timestamps in the database's precision, so a later read returns the same): one round trip.
      var writes = try InventoryStore.reservationWrites(reservation)
      let byKey = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0) })
      for (key, quantity) in reservation.unitsByRow.sorted(by: { $0.key < $1.key }) {
        guard let row = byKey[key] else { throw InventoryStore.StoreError.corruptRow }
        writes += try store.stockWrites(
          row, onHand: row.onHand, reserved: row.reserved + quantity, version: row.version + 1, now: now,
          ledger: LedgerEntry(kind: .reserve, reservationID: reservation.id, actor: actor))
      }
      guard let row = try await tx.query(writes + [InventoryStore.reservationRead(reservation.id)]).first else {
        throw InventoryStore.StoreError.corruptRow
      }
      let stored = try InventoryStore.reservation(row, allocations: reservation.allocations)
      return .with { $0.reservation = Self.message(stored) }
    }
  }

  /// Allocates a request's lines, in order, from the units `available` per locked stock row
  /// (`rows`: every row of the request's products): each line from its named warehouse, or as
  /// ``allocate(_:from:)`` picks. All or nothing: the allocations (in the order a read of the
  /// stored reservation returns them) and what is left, or INSUFFICIENT_STOCK listing every
  /// short line.
  static func allocate(
    _ lines: [CommerceV1.ReservationLine], warehouses: [UUID?], rows: [StockRow], available: [StockKey: Int64]
  ) -> Result<(allocations: [Allocation], available: [StockKey: Int64]), CommerceError> {
    var available = available
    var allocations: [Allocation] = []
    var short: [(index: Int, requested: Int64, available: Int64)] = []
    for (index, line) in lines.enumerated() {
      let candidates: [StockKey]
      if let warehouse = warehouses[index] {
        candidates = [StockKey(productID: line.productId, warehouseID: warehouse)]
      } else {
        candidates = rows.map(\.key).filter { $0.productID == line.productId }
      }
      guard let picked = allocate(line.quantity, from: candidates.map { ($0, available[$0] ?? 0) }) else {
        short.append((index, line.quantity, candidates.reduce(0) { $0 + max(0, available[$1] ?? 0) }))
        continue
      }
      for (key, quantity) in picked {
        available[key, default: 0] -= quantity
        allocations.append(Allocation(lineIndex: Int32(index), productID: key.productID, warehouseID: key.warehouseID, quantity: quantity))
      }
    }
    guard let first = short.first else {
      allocations.sort {
        ($0.lineIndex, -$0.quantity, $0.warehouseID.lowercasedText) < ($1.lineIndex, -$1.quantity, $1.warehouseID.lowercasedText)
      }
      return .success((allocations, available))
    }
    var error = CommerceError(
      .failedPrecondition, .insufficientStock, "not enough stock for \(short.count) of \(lines.count) lines; nothing was reserved",
      metadata: ["productId": lines[first.index].productId, "requested": String(first.requested), "available": String(first.available)])
    for line in short {
      error = error.precondition(
        kind: "INSUFFICIENT_STOCK", subject: "lines[\(line.index)]",
        "product '\(lines[line.index].productId)': requested \(line.requested), available \(line.available)")
    }
    return .failure(error)
  }

  public func commitReservation(request: CommerceV1.CommitReservationRequest, context: ServerContext) async throws
    -> CommerceV1.CommitReservationResponse
  {
    let caller = try context.principal()
    let id = try reservationID(request.reservationId)
    let outcome = try await finish(id) { reservation, tx in
      switch reservation.state {
      case .committed: return .unchanged
      case .released: return .notActive
      case .expired: return .expired
      case .active:
        return .changed(
          try await unitMoves(of: reservation, kind: .commit, actor: caller.description, in: tx)
            + [InventoryStore.finishWrite(id, state: .committed, at: now(), reason: nil)])
      }
    }
    switch outcome {
    case .expired: throw Self.expired(request.reservationId)
    case .notActive: throw Self.notActive(request.reservationId, "it was released")
    case .done(let reservation): return .with { $0.reservation = Self.message(reservation) }
    }
  }

  public func releaseReservation(request: CommerceV1.ReleaseReservationRequest, context: ServerContext) async throws
    -> CommerceV1.ReleaseReservationResponse
  {
    guard request.reason.count <= 500 else { throw CommerceError.invalidArgument(field: "reason", "must be at most 500 characters") }
    let caller = try context.principal()
    let id = try reservationID(request.reservationId)
    let outcome = try await finish(id) { reservation, tx in
      switch reservation.state {
      case .released: return .unchanged
      case .committed: return .notActive
      case .expired: return .unchanged
      case .active:
        return .changed(
          try await unitMoves(of: reservation, kind: .release, actor: caller.description, in: tx)
            + [InventoryStore.finishWrite(id, state: .released, at: now(), reason: request.reason.isEmpty ? nil : request.reason)])
      }
    }
    switch outcome {
    case .expired:
      let reservation = try await storedReservation(id, request.reservationId)
      return .with { $0.reservation = Self.message(reservation) }
    case .notActive:
      throw Self.notActive(request.reservationId, "it was committed; restock sold units with AdjustStock")
    case .done(let reservation): return .with { $0.reservation = Self.message(reservation) }
    }
  }

  public func extendReservation(request: CommerceV1.ExtendReservationRequest, context: ServerContext) async throws
    -> CommerceV1.ExtendReservationResponse
  {
    guard let ttlMessage = request.ttl else { throw CommerceError.invalidArgument(field: "ttl", "is required") }
    let ttl = Self.seconds(ttlMessage)
    guard ttlAllowed(ttl) else { throw CommerceError.invalidArgument(field: "ttl", "must be 1 minute to 1 hour") }
    let id = try reservationID(request.reservationId)
    let outcome = try await finish(id) { reservation, tx in
      switch reservation.state {
      case .committed, .released: return .notActive
      case .expired: return .expired
      case .active:
        let expiresAt = now().addingTimeInterval(ttl)
        guard expiresAt.timeIntervalSince(reservation.createdAt) <= configuration.maximumLifetime else {
          throw CommerceError.invalidArgument(field: "ttl", "would let the reservation live longer than 2 hours in total")
        }
        return .changed([try InventoryStore.expiryWrite(id, to: expiresAt)])
      }
    }
    switch outcome {
    case .expired: throw Self.expired(request.reservationId)
    case .notActive: throw Self.notActive(request.reservationId, "it was committed or released")
    case .done(let reservation): return .with { $0.reservation = Self.message(reservation) }
    }
  }

  public func getReservation(request: CommerceV1.GetReservationRequest, context: ServerContext) async throws
    -> CommerceV1.GetReservationResponse
  {
    let id = try reservationID(request.reservationId)
    let reservation = try await storedReservation(id, request.reservationId)
    return .with { $0.reservation = Self.message(reservation) }
  }

  // MARK: Warehouses

  public func listWarehouses(request: CommerceV1.ListWarehousesRequest, context: ServerContext) async throws
    -> CommerceV1.ListWarehousesResponse
  {
    let size = try PageToken.pageSize(request.pageSize, default: 100, maximum: 500)
    let binding = PageToken.binding("ListWarehouses", [])
    var after: (name: String, id: UUID)?
    if let position = try PageToken.position(request.pageToken, binding: binding, count: 2) {
      guard let id = UUID(id: position[1]) else {
        throw CommerceError.invalidArgument(field: "page_token", "is not a page token of this list", reason: .invalidPageToken)
      }
      after = (position[0], id)
    }
    let page = try await store.warehousePage(after: after, limit: size + 1)
    let warehouses = page.prefix(size)
    return .with {
      $0.warehouses = warehouses.map(Self.message)
      if page.count > size, let last = warehouses.last {
        $0.nextPageToken = PageToken.make([last.name, last.id.lowercasedString], binding: binding)
      }
    }
  }

  public func createWarehouse(request: CommerceV1.CreateWarehouseRequest, context: ServerContext) async throws
    -> CommerceV1.CreateWarehouseResponse
  {
    var violations = FieldViolations()
    violations.check(
      (2...10).contains(request.code.utf8.count) && request.code.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) },
      "code", "must be 2 to 10 upper case letters and digits")
    violations.checkLength(request.name, "name", 1...200)
    violations.check(
      request.regionCode.utf8.count == 2 && request.regionCode.utf8.allSatisfy { (0x41...0x5A).contains($0) }, "region_code",
      "must be an ISO 3166-1 alpha-2 code")
    try violations.throwIfAny()
    let caller = try context.principal()
    let warehouse = WarehouseRecord(id: UUID(), code: request.code, name: request.name, regionCode: request.regionCode, createdAt: now())
    let body: @Sendable (PostgresTransaction) async throws -> CommerceV1.CreateWarehouseResponse = { tx in
      let stored: WarehouseRecord
      do {
        stored = try await store.insertWarehouse(warehouse, in: tx)
      } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
        throw CommerceError(.alreadyExists, nil, "a warehouse with code '\(request.code)' exists", metadata: ["code": request.code])
      }
      return .with { $0.warehouse = Self.message(stored) }
    }
    let call = try IdempotencyStore.Call(
      optionalKey: request.idempotencyKey, scope: caller.description, method: CommerceV1.InventoryService.CreateWarehouse.descriptor,
      request: request)
    return try await idempotency.run(call) { tx in try await body(tx) }
  }

  // MARK: Helpers

  /// What a change to a locked reservation did.
  enum Step: Sendable {
    /// The reservation changes: these statements write the change (sent with the commit).
    case changed([PostgresTransaction.Statement])
    case unchanged, notActive, expired
  }

  /// What a change to a reservation ended with, once its transaction committed.
  enum Outcome: Sendable {
    case done(ReservationRecord)
    case notActive
    case expired
  }

  /// Expires reservation `id` when it is still ACTIVE past its expiry (the sweeper's step);
  /// returns whether it did.
  func expireIfDue(_ id: UUID) async throws -> Bool {
    let outcome = try await finish(id) { reservation, _ in .unchanged }
    guard case .done(let reservation) = outcome else { return false }
    return reservation.state == .expired
  }

  /// Locks reservation `id` and runs `step` on it in one transaction. An ACTIVE reservation
  /// past its expiry is expired first (its units given back, committed), and the step sees it
  /// EXPIRED. Errors the step reports as outcomes are thrown by the caller after the commit.
  func finish(
    _ id: UUID, _ step: @Sendable @escaping (ReservationRecord, PostgresTransaction) async throws -> Step
  ) async throws -> Outcome {
    try await store.pool.withTransaction { tx in
      guard var reservation = try await store.lockReservation(id, in: tx) else {
        throw CommerceError.notFound("reservation", id.lowercasedString)
      }
      if reservation.state == .active, reservation.expiresAt <= now() {
        try await tx.query(
          try await unitMoves(of: reservation, kind: .expire, actor: "service:inventory", in: tx)
            + [InventoryStore.finishWrite(id, state: .expired, at: reservation.expiresAt, reason: nil)])
        reservation.state = .expired
        reservation.finishedAt = reservation.expiresAt
      }
      switch try await step(reservation, tx) {
      case .notActive: return .notActive
      case .expired: return .expired
      case .unchanged: return .done(reservation)
      case .changed(let writes):
        // The writes, the reservation read back as stored, and COMMIT: one round trip.
        let rows = try await tx.queryAndCommit(writes + [InventoryStore.reservationRead(id)])
        guard let row = rows.first else { throw InventoryStore.StoreError.corruptRow }
        return .done(try InventoryStore.reservation(row, allocations: reservation.allocations))
      }
    }
  }

  /// Locks an active reservation's stock rows, in order, and returns the statements that give
  /// back (release, expire) or sell (commit) the units it holds, for the caller's batch.
  private func unitMoves(of reservation: ReservationRecord, kind: LedgerEntry.Kind, actor: String, in tx: PostgresTransaction) async throws
    -> [PostgresTransaction.Statement]
  {
    let units = reservation.unitsByRow
    let rows = try await store.lockStock(products: Array(Set(units.keys.map(\.productID))), in: tx)
    return try rows.flatMap { row -> [PostgresTransaction.Statement] in
      guard let quantity = units[row.key] else { return [] }
      let onHand = kind == .commit ? row.onHand - quantity : row.onHand
      return try store.stockWrites(
        row, onHand: onHand, reserved: row.reserved - quantity, version: row.version + 1, now: now(),
        ledger: LedgerEntry(kind: kind, reservationID: reservation.id, actor: actor))
    }
  }

  private func storedReservation(_ id: UUID, _ text: String) async throws -> ReservationRecord {
    guard let reservation = try await store.reservation(id) else { throw CommerceError.notFound("reservation", text) }
    return reservation
  }

  private func reservationID(_ text: String) throws(CommerceError) -> UUID {
    guard !text.isEmpty else { throw .invalidArgument(field: "reservation_id", "is required") }
    guard let id = UUID(id: text) else { throw .notFound("reservation", text) }
    return id
  }

  private func ttlAllowed(_ seconds: Double) -> Bool {
    Double(configuration.ttlRange.lowerBound) <= seconds && seconds <= Double(configuration.ttlRange.upperBound)
  }

  static func seconds(_ duration: GoogleProtobuf.Duration) -> Double {
    Double(duration.seconds) + Double(duration.nanos) / 1e9
  }

  /// Picks where `quantity` units come from: the one candidate that can serve them all (the one
  /// with the most available units), else several, most available first; nil when all together
  /// cannot.
  static func allocate(_ quantity: Int64, from candidates: [(StockKey, Int64)]) -> [(StockKey, Int64)]? {
    let ordered = candidates.filter { $0.1 > 0 }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    guard ordered.reduce(0, { $0 + $1.1 }) >= quantity else { return nil }
    if let first = ordered.first, first.1 >= quantity { return [(first.0, quantity)] }
    var remaining = quantity
    var picked: [(StockKey, Int64)] = []
    for (key, available) in ordered where remaining > 0 {
      let take = min(available, remaining)
      picked.append((key, take))
      remaining -= take
    }
    return picked
  }

  /// The id of an existing warehouse; NOT_FOUND otherwise.
  private func existingWarehouse(_ text: String) async throws -> UUID {
    let id = try Self.warehouseID(text)
    guard try await store.existingWarehouses([id]).contains(id) else { throw CommerceError.notFound("warehouse", text) }
    return id
  }

  private static func warehouseID(_ text: String) throws(CommerceError) -> UUID {
    guard let id = UUID(id: text) else { throw .notFound("warehouse", text) }
    return id
  }

  /// The sellers of the products the catalog knows, by product id (BatchGetProducts, 100 ids
  /// per call). Called before any transaction.
  private func catalogSellers(_ ids: [String]) async throws -> [String: String] {
    var sellers: [String: String] = [:]
    for start in stride(from: 0, to: ids.count, by: 100) {
      let chunk = Array(ids[start..<min(start + 100, ids.count)])
      let response = try await catalog.batchGetProducts(.with { $0.productIds = chunk })
      for product in response.products { sellers[product.productId] = product.sellerId }
    }
    return sellers
  }

  /// Checks that the product exists and that the caller may manage its stock: its seller
  /// holding ROLE_SELLER, or a caller the rule admits by role or as a service. Anyone else is
  /// told the product does not exist.
  private func requireManager(of productID: String) async throws {
    let sellers = try await catalogSellers([productID])
    guard let seller = sellers[productID] else { throw CommerceError.notFound("product", productID) }
    guard let auth = CallAuth.current, let principal = auth.principal else { throw CommerceError.notFound("product", productID) }
    switch auth.admission {
    case .role, .service: return
    case .anonymous, .anyUser, .owner:
      guard principal.kind == .user, principal.subject == seller else { throw CommerceError.notFound("product", productID) }
      guard principal.has(.seller) else { throw CommerceError.permissionDenied("managing stock needs ROLE_SELLER") }
    }
  }

  static func belowReserved(_ key: StockKey, onHand: Int64, reserved: Int64) -> CommerceError {
    CommerceError(
      .failedPrecondition, .stockBelowReserved,
      "on_hand would be \(onHand), below the \(reserved) units reserved (or below zero)",
      metadata: ["productId": key.productID, "warehouseId": key.warehouseID.lowercasedString, "reserved": String(reserved)]
    ).precondition(
      kind: "STOCK_BELOW_RESERVED", subject: "product/\(key.productID)", "on_hand \(onHand) is below reserved \(reserved)")
  }

  static func expired(_ id: String) -> CommerceError {
    CommerceError(
      .failedPrecondition, .reservationExpired, "reservation '\(id)' expired; reserve again", metadata: ["reservationId": id])
  }

  static func notActive(_ id: String, _ why: String) -> CommerceError {
    CommerceError(
      .failedPrecondition, .reservationNotActive, "reservation '\(id)' is not active: \(why)", metadata: ["reservationId": id])
  }

  /// +1 for reasons that add units, -1 for those that remove, 0 for either; nil when invalid.
  static func sign(of reason: CommerceV1.StockAdjustmentReason) -> Int? {
    switch reason {
    case .received, .returnRestock, .orderCancelled: 1
    case .damaged, .lost: -1
    case .correction, .other: 0
    case .unspecified, .unrecognized: nil
    }
  }

  static func reasonName(_ reason: CommerceV1.StockAdjustmentReason) -> String {
    switch reason {
    case .received: "RECEIVED"
    case .returnRestock: "RETURN_RESTOCK"
    case .damaged: "DAMAGED"
    case .lost: "LOST"
    case .correction: "CORRECTION"
    case .other: "OTHER"
    case .orderCancelled: "ORDER_CANCELLED"
    case .unspecified, .unrecognized: "UNSPECIFIED"
    }
  }

  // MARK: Messages

  static func message(_ row: StockRow) -> CommerceV1.WarehouseStock {
    .with {
      $0.productId = row.productID
      $0.warehouseId = row.warehouseID.lowercasedString
      $0.onHand = row.onHand
      $0.reserved = row.reserved
      $0.available = row.available
      $0.version = row.version
      if row.version > 0 { $0.updateTime = .init(row.updatedAt) }
    }
  }

  static func message(_ warehouse: WarehouseRecord) -> CommerceV1.Warehouse {
    .with {
      $0.warehouseId = warehouse.id.lowercasedString
      $0.code = warehouse.code
      $0.name = warehouse.name
      $0.regionCode = warehouse.regionCode
      $0.createTime = .init(warehouse.createdAt)
    }
  }

  static func message(_ reservation: ReservationRecord) -> CommerceV1.Reservation {
    .with {
      $0.reservationId = reservation.id.lowercasedString
      $0.orderId = reservation.orderID
      $0.status =
        switch reservation.state {
        case .active: .active
        case .committed: .committed
        case .released: .released
        case .expired: .expired
        }
      $0.allocations = reservation.allocations.map { allocation in
        .with {
          $0.productId = allocation.productID
          $0.warehouseId = allocation.warehouseID.lowercasedString
          $0.quantity = allocation.quantity
          $0.lineIndex = allocation.lineIndex
        }
      }
      $0.createTime = .init(reservation.createdAt)
      $0.expireTime = .init(reservation.expiresAt)
      if let finished = reservation.finishedAt { $0.finishTime = .init(finished) }
    }
  }
}
