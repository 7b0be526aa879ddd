import ArgumentParser
import CommerceAPI
import Foundation
import LoadCore
import RPC

/// What the scenarios set up before the measured run: tokens and stock.
enum Preparation {
  /// Logs `users` in (8 at a time) and returns call options carrying each one's access token.
  static func logIn(
    _ users: [LoadManifest.User], clients: CommerceClients, timeout: Duration, log: @escaping @Sendable (String) -> Void
  ) async throws -> [CallOptions] {
    log("logging in \(users.count) customers")
    return try await concurrentMap(users, width: 8) { user in
      var request = CommerceV1.LoginRequest()
      request.email = user.email
      request.password = user.password
      request.sessionLabel = "loadgen"
      let response = try await clients.auth.login(request, options: CallOptions(timeout: timeout))
      guard let token = response.tokens?.accessToken, !token.isEmpty else {
        throw ValidationError("login of \(user.email) returned no access token")
      }
      return CallOptions(timeout: timeout, metadata: ["authorization": "Bearer " + token])
    }
  }

  /// Sets `settings.stock` units on hand for each product, in the manifest's first warehouse or
  /// (when it names none) the first the server lists, created as "LOADGEN" when there is none,
  /// and empties the product's other warehouses (down to what they hold reserved), so the
  /// product's total is `settings.stock`; as the manifest's first admin. Skipped when the
  /// manifest brings stock, unless `settings.setStock`; and in every shard but the first
  /// (`settings.setsStock`).
  static func stock(
    _ productIDs: [String], clients: CommerceClients, manifest: LoadManifest, settings: ScenarioSettings,
    log: @escaping @Sendable (String) -> Void
  ) async throws {
    guard settings.setsStock else {
      log("leaving the stock to shard 1")
      return
    }
    if manifest.hasStock && !settings.setStock {
      log("using the manifest's stock")
      return
    }
    guard let admin = manifest.admins.first else {
      throw ValidationError("the manifest has no ADMIN account to set stock with (or seed stock: see docs/LOADGEN.md)")
    }
    let asAdmin = try await logIn([admin], clients: clients, timeout: settings.callTimeout, log: { _ in })[0]
    let warehouse = try await warehouseID(manifest: manifest, clients: clients, options: asAdmin)
    log("setting \(settings.stock) units on hand of \(productIDs.count) products in warehouse \(warehouse)")
    _ = try await concurrentMap(productIDs, width: 16) { productID in
      var request = CommerceV1.SetStockRequest()
      request.productId = productID
      request.warehouseId = warehouse
      request.onHand = settings.stock
      return try await clients.inventory.setStock(request, options: asAdmin)
    }
    // The product's total is what was asked for: other warehouses (the seed stocks several)
    // keep only what they have reserved.
    let batches = stride(from: 0, to: productIDs.count, by: 100).map {
      Array(productIDs[$0..<min($0 + 100, productIDs.count)])
    }
    let elsewhere = try await concurrentMap(batches, width: 4) { batch in
      var request = CommerceV1.GetStockRequest()
      request.productIds = batch
      return try await clients.inventory.getStock(request, options: asAdmin).stocks.flatMap { stock in
        stock.warehouses.filter { $0.warehouseId != warehouse && $0.onHand > $0.reserved }
      }
    }.joined()
    if !elsewhere.isEmpty {
      log("emptying \(elsewhere.count) stock rows of those products in other warehouses")
    }
    _ = try await concurrentMap(Array(elsewhere), width: 16) { row in
      var request = CommerceV1.SetStockRequest()
      request.productId = row.productId
      request.warehouseId = row.warehouseId
      request.onHand = row.reserved
      return try await clients.inventory.setStock(request, options: asAdmin)
    }
  }

  private static func warehouseID(manifest: LoadManifest, clients: CommerceClients, options: CallOptions) async throws
    -> String
  {
    if let first = manifest.warehouseIds?.first { return first }
    var list = CommerceV1.ListWarehousesRequest()
    list.pageSize = 1
    if let first = try await clients.inventory.listWarehouses(list, options: options).warehouses.first {
      return first.warehouseId
    }
    var create = CommerceV1.CreateWarehouseRequest()
    create.code = "LOADGEN"
    create.name = "loadgen"
    create.regionCode = "US"
    create.idempotencyKey = "loadgen-warehouse"
    guard let created = try await clients.inventory.createWarehouse(create, options: options).warehouse else {
      throw ValidationError("CreateWarehouse returned no warehouse")
    }
    return created.warehouseId
  }

  /// A checkout request with everything but the items: a shipping address, the sandbox's
  /// always-approved test card, a fresh idempotency key.
  static func checkoutRequest() -> CommerceV1.CheckoutRequest {
    var address = CommerceV1.Address()
    address.recipientName = "Load Generator"
    address.addressLines = ["1 Test Street"]
    address.locality = "Springfield"
    address.administrativeArea = "IL"
    address.postalCode = "62701"
    address.regionCode = "US"
    var card = CommerceV1.TestCard()
    card.number = "4242 4242 4242 4242"
    card.expMonth = 12
    card.expYear = 2040
    card.cvc = "123"
    var payment = CommerceV1.PaymentMethod()
    payment.method = .testCard(card)
    var request = CommerceV1.CheckoutRequest()
    request.shippingAddress = address
    request.paymentMethod = payment
    request.idempotencyKey = UUID().uuidString
    return request
  }

  /// `transform` over `items`, at most `width` at a time, results in order; the first error
  /// cancels the rest and is thrown.
  static func concurrentMap<T: Sendable, R: Sendable>(
    _ items: [T], width: Int, _ transform: @escaping @Sendable (T) async throws -> R
  ) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
      var results = [R?](repeating: nil, count: items.count)
      var next = 0
      for _ in 0..<min(width, items.count) {
        let index = next
        group.addTask { (index, try await transform(items[index])) }
        next += 1
      }
      while let (index, result) = try await group.next() {
        results[index] = result
        if next < items.count {
          let index = next
          group.addTask { (index, try await transform(items[index])) }
          next += 1
        }
      }
      return results.map { $0! }
    }
  }
}
