import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import Testing

@testable import CommerceInventory

/// Warehouses, GetStock, SetStock and AdjustStock: happy paths, documented errors, access.
@Suite("InventoryService stock")
struct StockTests {
  @Test("CreateWarehouse and ListWarehouses: by name, paged, codes unique, admins only to create")
  func warehouses() async throws {
    try await InventoryHarness.run { h in
      let b = try await h.warehouse("Berlin")
      let a = try await h.warehouse("Austin")
      let c = try await h.warehouse("Chicago")
      let sellerList = try await h.inventory.listWarehouses(.with { $0.pageSize = 2 }, options: h.seller)
      #expect(sellerList.warehouses.map(\.name) == ["Austin", "Berlin"])
      let next = try await h.inventory.listWarehouses(
        .with {
          $0.pageSize = 2
          $0.pageToken = sellerList.nextPageToken
        }, options: try await h.service("shipping"))
      #expect(next.warehouses.map(\.warehouseId) == [c.warehouseId])
      #expect(next.nextPageToken.isEmpty)
      #expect(a.regionCode == "US" && b.code.hasPrefix("W"))
      // Listed exactly as created.
      #expect(sellerList.warehouses == [a, b])

      await expectFailure(.alreadyExists) {
        try await h.inventory.createWarehouse(
          .with {
            $0.code = a.code
            $0.name = "Other"
            $0.regionCode = "DE"
          }, options: h.admin)
      }
      let invalid = await expectFailure(.invalidArgument) {
        try await h.inventory.createWarehouse(
          .with {
            $0.code = "a"
            $0.name = ""
            $0.regionCode = "usa"
          }, options: h.admin)
      }
      #expect(Set(invalid?.invalidFields ?? []) == ["code", "name", "region_code"])
      await expectFailure(.permissionDenied) {
        try await h.inventory.createWarehouse(
          .with {
            $0.code = "SEL1"
            $0.name = "Mine"
            $0.regionCode = "US"
          }, options: h.seller)
      }
      await expectFailure(.permissionDenied) {
        try await h.inventory.listWarehouses(.init(), options: try await h.user(roles: []))
      }
      // Idempotent with a key: the retry returns the same warehouse.
      let request = CommerceV1.CreateWarehouseRequest.with {
        $0.code = "IDEM1"
        $0.name = "Idem"
        $0.regionCode = "FR"
        $0.idempotencyKey = "k1"
      }
      let first = try await h.inventory.createWarehouse(request, options: h.admin).warehouse!
      let again = try await h.inventory.createWarehouse(request, options: h.admin).warehouse!
      #expect(first.warehouseId == again.warehouseId)
    }
  }

  @Test("SetStock: creates the row, versions, expected_version, STOCK_BELOW_RESERVED, ledger")
  func setStock() async throws {
    try await InventoryHarness.run { h in
      let product = try await h.product().productId
      let warehouse = try await h.warehouse().warehouseId
      func set(_ onHand: Int64, expected: Int64? = nil, as caller: CallOptions? = nil) async throws -> CommerceV1.WarehouseStock {
        let options = caller ?? h.seller
        return try await h.inventory.setStock(
          .with {
            $0.productId = product
            $0.warehouseId = warehouse
            $0.onHand = onHand
            if let expected { $0.writeCondition = .expectedVersion(expected) }
            $0.note = "stock take"
          }, options: options
        ).stock!
      }
      // Nothing recorded yet: a zero row with version 0.
      let empty = try await h.row(product, warehouse)
      #expect(empty.version == 0 && empty.onHand == 0 && empty.updateTime == nil)
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") { try await set(5, expected: 3) }
      let created = try await set(10, expected: 0)
      #expect(created.onHand == 10 && created.available == 10 && created.version == 1 && created.updateTime != nil)
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") { try await set(12, expected: 0) }
      let second = try await set(12, expected: 1)
      #expect(second.version == 2 && second.onHand == 12)
      // The same value again changes nothing.
      #expect(try await set(12).version == 2)
      // Admins may set any product's stock.
      #expect(try await set(20, as: h.admin).version == 3)

      _ = try await h.reserve([(product, 15, warehouse)])
      let below = await expectFailure(.failedPrecondition, reason: "STOCK_BELOW_RESERVED") { try await set(14) }
      #expect(below?.commerceMetadata["reserved"] == "15")
      #expect(try await set(15).available == 0)

      let ledger = try await h.service.store.ledger(StockKey(productID: product, warehouseID: UUID(id: warehouse)!))
      #expect(ledger.map(\.kind) == ["SET", "SET", "SET", "RESERVE", "SET"])
      #expect(ledger.map(\.onHandDelta) == [10, 2, 8, 0, -5])
      #expect(ledger[0].actor == "user:\(h.sellerID)")
      try await h.checkInvariant()
    }
  }

  @Test("SetStock and AdjustStock errors and access: unknown product or warehouse, other sellers, roles, arguments")
  func stockErrors() async throws {
    try await InventoryHarness.run { h in
      let product = try await h.product().productId
      let warehouse = try await h.warehouse().warehouseId
      func set(_ product: String, _ warehouse: String, _ onHand: Int64 = 1, as options: CallOptions) async throws -> CommerceV1.SetStockResponse {
        try await h.inventory.setStock(
          .with {
            $0.productId = product
            $0.warehouseId = warehouse
            $0.onHand = onHand
          }, options: options)
      }
      func adjust(
        _ product: String, _ warehouse: String, _ delta: Int64, reason: CommerceV1.StockAdjustmentReason = .received, key: String = UUID().uuidString,
        as options: CallOptions
      ) async throws -> CommerceV1.WarehouseStock {
        try await h.inventory.adjustStock(
          .with {
            $0.productId = product
            $0.warehouseId = warehouse
            $0.delta = delta
            $0.reason = reason
            $0.idempotencyKey = key
          }, options: options
        ).stock!
      }
      await expectFailure(.notFound) { try await set(UUID().uuidString.lowercased(), warehouse, as: h.admin) }
      await expectFailure(.notFound) { try await set(product, UUID().uuidString.lowercased(), as: h.admin) }
      await expectFailure(.notFound) { try await set(product, "not-a-warehouse", as: h.admin) }
      await expectFailure(.notFound) { try await adjust(UUID().uuidString.lowercased(), warehouse, 1, as: h.admin) }
      await expectFailure(.notFound) { try await adjust(product, UUID().uuidString.lowercased(), 1, as: h.admin) }
      // Another seller's product reads as not found; the owner without ROLE_SELLER is refused.
      let otherSeller = try await h.user(roles: [.seller])
      await expectFailure(.notFound) { try await set(product, warehouse, as: otherSeller) }
      await expectFailure(.notFound) { try await adjust(product, warehouse, 1, as: otherSeller) }
      await expectFailure(.permissionDenied) { try await set(product, warehouse, as: try await h.user(id: h.sellerID, roles: [])) }
      // Services: support and orders may adjust, nobody else; no service may set.
      await expectFailure(.permissionDenied) { try await set(product, warehouse, as: try await h.service("support")) }
      await expectFailure(.permissionDenied) { try await adjust(product, warehouse, 1, as: try await h.service("shipping")) }
      #expect(try await adjust(product, warehouse, 3, reason: .returnRestock, as: try await h.service("support")).onHand == 3)
      #expect(try await adjust(product, warehouse, 2, reason: .orderCancelled, as: h.orders).onHand == 5)
      await expectFailure(.unauthenticated) { try await set(product, warehouse, as: CallOptions()) }

      let bad = await expectFailure(.invalidArgument) {
        try await h.inventory.setStock(.with { $0.onHand = -1; $0.writeCondition = .expectedVersion(-2) }, options: h.admin)
      }
      #expect(Set(bad?.invalidFields ?? []) == ["product_id", "warehouse_id", "on_hand", "expected_version"])
      let zero = await expectFailure(.invalidArgument) { try await adjust(product, warehouse, 0, as: h.seller) }
      #expect(zero?.invalidFields == ["delta"])
      let noReason = await expectFailure(.invalidArgument) { try await adjust(product, warehouse, 1, reason: .unspecified, as: h.seller) }
      #expect(noReason?.invalidFields == ["reason"])
      let sign = await expectFailure(.invalidArgument) { try await adjust(product, warehouse, 1, reason: .damaged, as: h.seller) }
      #expect(sign?.invalidFields == ["delta"])
      let noKey = await expectFailure(.invalidArgument) { try await adjust(product, warehouse, 1, key: "", as: h.seller) }
      #expect(noKey?.invalidFields == ["idempotency_key"])
    }
  }

  @Test("AdjustStock: adds and removes, idempotent by key, STOCK_BELOW_RESERVED below reserved or zero, ledger")
  func adjustStock() async throws {
    try await InventoryHarness.run { h in
      let product = try await h.product().productId
      let warehouse = try await h.warehouse().warehouseId
      func adjust(_ delta: Int64, _ reason: CommerceV1.StockAdjustmentReason, key: String, note: String = "") async throws -> CommerceV1.WarehouseStock {
        try await h.inventory.adjustStock(
          .with {
            $0.productId = product
            $0.warehouseId = warehouse
            $0.delta = delta
            $0.reason = reason
            $0.note = note
            $0.idempotencyKey = key
          }, options: h.seller
        ).stock!
      }
      // Below zero on a row that does not exist yet.
      await expectFailure(.failedPrecondition, reason: "STOCK_BELOW_RESERVED") { try await adjust(-1, .correction, key: "k0") }
      let received = try await adjust(10, .received, key: "k1", note: "PO-1")
      #expect(received.onHand == 10 && received.version == 1)
      // A retry with the same key does not adjust twice.
      #expect(try await adjust(10, .received, key: "k1", note: "PO-1") == received)
      await expectFailure(.invalidArgument, reason: "IDEMPOTENCY_KEY_REUSED") { try await adjust(11, .received, key: "k1") }
      let damaged = try await adjust(-2, .damaged, key: "k2")
      #expect(damaged.onHand == 8 && damaged.version == 2)
      _ = try await h.reserve([(product, 6, warehouse)])
      let below = await expectFailure(.failedPrecondition, reason: "STOCK_BELOW_RESERVED") { try await adjust(-3, .lost, key: "k3") }
      #expect(below?.commerceMetadata["reserved"] == "6")
      let lost = try await adjust(-2, .lost, key: "k4")
      #expect(lost.onHand == 6 && lost.reserved == 6 && lost.available == 0)
      let ledger = try await h.service.store.ledger(StockKey(productID: product, warehouseID: UUID(id: warehouse)!))
      #expect(ledger.map(\.kind) == ["ADJUST", "ADJUST", "RESERVE", "ADJUST"])
      #expect(ledger.map(\.onHandDelta) == [10, -2, 0, -2])
      #expect(ledger.map(\.reservedDelta) == [0, 0, 6, 0])
      let reasons = try await h.pool.query("SELECT reason FROM inventory.stock_ledger WHERE kind = 'ADJUST' ORDER BY seq").map {
        try $0.decode(0, as: String.self)
      }
      #expect(reasons == ["RECEIVED", "DAMAGED", "LOST"])
      try await h.checkInvariant()
    }
  }

  @Test("GetStock: per warehouse and totals, in request order; others' products read as zero; access")
  func getStock() async throws {
    try await InventoryHarness.run { h in
      let mine = try await h.product("Mine").productId
      let other = try await h.product("Other").productId
      let w1 = try await h.warehouse("One").warehouseId
      let w2 = try await h.warehouse("Two").warehouseId
      try await h.stock(mine, w1, onHand: 5)
      try await h.stock(mine, w2, onHand: 7)
      try await h.stock(other, w1, onHand: 3)
      _ = try await h.reserve([(mine, 4, w2)])
      let unknown = UUID().uuidString.lowercased()
      let all = try await h.inventory.getStock(.with { $0.productIds = [unknown, mine, other] }, options: h.admin).stocks
      #expect(all.map(\.productId) == [unknown, mine, other])
      #expect(all[0].warehouses.isEmpty && all[0].totalOnHand == 0)
      #expect(all[1].warehouses.count == 2)
      #expect(all[1].totalOnHand == 12 && all[1].totalReserved == 4 && all[1].totalAvailable == 8)
      #expect(all[2].totalAvailable == 3)
      // Only one warehouse.
      let one = try await h.inventory.getStock(.with { $0.productIds = [mine, unknown]; $0.warehouseId = w2 }, options: h.admin).stocks
      #expect(one[0].warehouses.map(\.warehouseId) == [w2] && one[0].totalAvailable == 3)
      #expect(one[1].warehouses.map(\.version) == [0])
      // The catalog reads every product's stock.
      let catalogView = try await h.inventory.getStock(.with { $0.productIds = [mine] }, options: try await h.service("catalog")).stocks
      #expect(catalogView[0].totalOnHand == 12)
      // The owning seller sees its products; another seller sees zero stock.
      #expect(try await h.inventory.getStock(.with { $0.productIds = [mine] }, options: h.seller).stocks[0].totalOnHand == 12)
      let stranger = try await h.inventory.getStock(.with { $0.productIds = [mine] }, options: try await h.user(roles: [.seller])).stocks
      #expect(stranger[0].warehouses.isEmpty && stranger[0].totalOnHand == 0)
      await expectFailure(.permissionDenied) {
        try await h.inventory.getStock(.with { $0.productIds = [mine] }, options: try await h.service("support"))
      }
      await expectFailure(.invalidArgument) { try await h.inventory.getStock(.init(), options: h.admin) }
      await expectFailure(.invalidArgument) {
        try await h.inventory.getStock(.with { $0.productIds = (0..<101).map { "p\($0)" } }, options: h.admin)
      }
      await expectFailure(.notFound) {
        try await h.inventory.getStock(.with { $0.productIds = [mine]; $0.warehouseId = unknown }, options: h.admin)
      }
    }
  }
}
