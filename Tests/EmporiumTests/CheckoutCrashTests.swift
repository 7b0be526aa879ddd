import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import PostgresEmbedded
import RPC
import Synchronization
import TestSupport
import Testing

/// `emporium serve` killed with SIGKILL during a stream of checkouts, then started again on the
/// same database: every saga is resumed or compensated, and money and stock add up.
@Suite("checkout across a killed server", .serialized)
struct CheckoutCrashTests {
  /// What one buyer's stream of checkouts saw.
  final class Outcomes: Sendable {
    let answered = Mutex(0)
    /// The calls that got no answer (the server died under them), with their buyer.
    let unanswered = Mutex<[(buyer: Int, request: CommerceV1.CheckoutRequest)]>([])
  }

  @Test func everySagaEndsConsistentlyAfterSIGKILL() async throws {
    let database = try await TestCluster.createDatabase("checkout_crash")
    let keys = NSTemporaryDirectory() + "emporium-keys-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: keys) }
    // A short saga lease, so the second server's recovery takes the first one's sagas over soon.
    let arguments = ["--keys-dir", keys, "--setting", "orders.saga-lease=3"]
    let first = try await ServeCommandTests.startServer(databaseURL: database, extra: arguments, echo: false)
    var firstKilled = false
    defer { if !firstKilled { kill(first.process.processIdentifier, SIGKILL) } }

    let tokens = await AccessTokens(keys: try AccessTokenKeySet.load(directory: keys).keys)
    func bearer(_ principal: Principal) async throws -> CallOptions {
      CallOptions(metadata: ["authorization": "Bearer " + (try await tokens.issue(for: principal, lifetime: .seconds(900)).token)])
    }
    let admin = try await bearer(Principal(kind: .user, subject: UUID().uuidString.lowercased(), roles: [.customer, .admin], expiresAt: 0))
    let adminService = try await bearer(Principal(kind: .service, subject: "admin", expiresAt: 0))
    let connection = try await RPCConnection.connect(host: "127.0.0.1", port: first.port)

    // A seller's product with 400 units.
    let auth = CommerceV1.AuthService.Client(connection)
    let seller = try await auth.registerUser(.with {
      $0.email = "crash-seller@example.com"
      $0.password = "correct horse battery"
      $0.displayName = "Seller"
      $0.sellerApplication = .with {
        $0.businessName = "Crash Co"
        $0.regionCode = "US"
      }
    }).user!
    _ = try await auth.assignRole(.with { $0.userId = seller.userId; $0.role = .seller }, options: adminService)
    let sellerOptions = try await bearer(Principal(kind: .user, subject: seller.userId, roles: [.customer, .seller], expiresAt: 0))
    let catalog = CommerceV1.CatalogService.Client(connection)
    let category = try await catalog.createCategory(.with { $0.name = "Lamps"; $0.slug = "lamps" }, options: admin).category!
    let product = try await catalog.createProduct(
      .with { $0.product = .draft("Desk Lamp", category: category.categoryId, price: 2500) }, options: sellerOptions
    ).product!
    let inventory = CommerceV1.InventoryService.Client(connection)
    let warehouse = try await inventory.createWarehouse(
      .with {
        $0.code = "CRASH1"
        $0.name = "Crash"
        $0.regionCode = "US"
      }, options: admin
    ).warehouse!
    let units: Int64 = 400
    _ = try await inventory.setStock(
      .with {
        $0.productId = product.productId
        $0.warehouseId = warehouse.warehouseId
        $0.onHand = units
      }, options: admin)

    func request(_ index: Int) -> CommerceV1.CheckoutRequest {
      .with {
        $0.itemsSource = .lines(.with { $0.lines = [.with { $0.productId = product.productId; $0.quantity = 1 + Int32(index % 2) }] })
        $0.shippingAddress = .with {
          $0.recipientName = "Ada Buyer"
          $0.addressLines = ["1 Market Street"]
          $0.locality = "San Francisco"
          $0.regionCode = "US"
        }
        $0.paymentMethod = .with {
          $0.method = .testCard(
            .with {
              // Every fifth checkout is declined: its compensation may be cut short too.
              $0.number = index % 5 == 4 ? "4000 0000 0000 0002" : "4242 4242 4242 4242"
              $0.expMonth = 12
              $0.expYear = 2040
              $0.cvc = "123"
            })
        }
        $0.idempotencyKey = "crash-\(index)"
      }
    }

    // Eight buyers check out one after another until the server dies under them.
    let buyers = try await (0..<8).asyncMap { _ in
      try await bearer(Principal(kind: .user, subject: UUID().uuidString.lowercased(), roles: [.customer], expiresAt: 0))
    }
    let outcomes = Outcomes()
    let orders = CommerceV1.OrderService.Client(connection)
    let streams = (0..<8).map { buyer in
      Task {
        var index = buyer
        while true {
          let next = request(index)
          do {
            _ = try await orders.checkout(next, options: buyers[buyer])
            outcomes.answered.withLock { $0 += 1 }
          } catch let error as RPCError where error.code == .failedPrecondition {
            outcomes.answered.withLock { $0 += 1 }
          } catch {
            outcomes.unanswered.withLock { $0.append((buyer, next)) }
            return
          }
          index += 8
        }
      }
    }
    #expect(try await eventually(within: .seconds(120)) { outcomes.answered.withLock { $0 } >= 40 })
    kill(first.process.processIdentifier, SIGKILL)
    await first.process.exited()
    firstKilled = true
    for stream in streams { await stream.value }
    await connection.close()

    // The second server, on the same database and keys.
    let second = try await ServeCommandTests.startServer(databaseURL: database, extra: arguments, echo: false)
    defer { kill(second.process.processIdentifier, SIGTERM) }
    let pool = try PostgresPool(configuration: .init(url: database, maximumConnections: 2))
    func count(_ sql: String) async throws -> Int64 { try await pool.query(sql).first!.decode(0, as: Int64.self) }

    // Every saga the first server left is resumed or compensated.
    #expect(
      try await eventually(within: .seconds(180), every: .milliseconds(200)) {
        try await count("SELECT count(*) FROM orders.orders WHERE status IN ('PENDING', 'AWAITING_PAYMENT')") == 0
      })
    // What is left unfinished, if anything, shown when the expectation above failed.
    let unfinished = try await pool.query(
      """
      SELECT o.id::text || ' ' || o.status || ' saga ' || o.saga_state || ' payments ' ||
        coalesce((SELECT string_agg(p.status, ',') FROM payments.payments p WHERE p.order_id = o.id::text), 'none')
      FROM orders.orders o WHERE o.status IN ('PENDING', 'AWAITING_PAYMENT')
      """
    ).map { try $0.decode(0, as: String.self) }
    #expect(unfinished.isEmpty, "\(unfinished)")
    // A retry of a checkout that got no answer gets its outcome (or runs it, if it never arrived).
    let retried = try await RPCConnection.connect(host: "127.0.0.1", port: second.port)
    let retriedOrders = CommerceV1.OrderService.Client(retried)
    for unanswered in outcomes.unanswered.withLock({ $0 }) {
      do {
        let order = try await retriedOrders.checkout(unanswered.request, options: buyers[unanswered.buyer]).order!
        #expect(order.status == .confirmed)
      } catch let error as RPCError {
        #expect(error.code == .failedPrecondition, "\(error)")
      }
    }
    await retried.close()
    #expect(try await count("SELECT count(*) FROM orders.orders WHERE status IN ('PENDING', 'AWAITING_PAYMENT')") == 0)

    // Every order is CONFIRMED with an authorized payment and a committed reservation, or
    // FAILED/CANCELLED with no live charge and no held stock.
    #expect(try await count("SELECT count(*) FROM orders.orders WHERE status NOT IN ('CONFIRMED', 'FAILED', 'CANCELLED')") == 0)
    #expect(try await count("SELECT count(*) FROM orders.orders WHERE status = 'CONFIRMED'") > 0)
    #expect(
      try await count(
        """
        SELECT count(*) FROM orders.orders o WHERE o.status = 'CONFIRMED' AND NOT EXISTS (
          SELECT 1 FROM payments.payments p WHERE p.order_id = o.id::text AND p.status = 'AUTHORIZED')
        """) == 0)
    #expect(
      try await count(
        """
        SELECT count(*) FROM orders.orders o WHERE o.status = 'CONFIRMED' AND NOT EXISTS (
          SELECT 1 FROM inventory.reservations r WHERE r.id::text = o.reservation_id AND r.status = 'COMMITTED')
        """) == 0)
    #expect(
      try await count(
        """
        SELECT count(*) FROM orders.orders o JOIN payments.payments p ON p.order_id = o.id::text
        WHERE o.status IN ('FAILED', 'CANCELLED') AND p.status IN ('PENDING', 'AUTHORIZED', 'CAPTURED')
        """) == 0)
    // No order was charged twice.
    #expect(
      try await count(
        """
        SELECT count(*) FROM (SELECT order_id FROM payments.payments WHERE status IN ('AUTHORIZED', 'CAPTURED')
                              GROUP BY order_id HAVING count(*) > 1) twice
        """) == 0)
    // No stock is held, and the units sold are the units of the confirmed orders.
    #expect(try await count("SELECT count(*) FROM inventory.reservations WHERE status = 'ACTIVE'") == 0)
    let onHand = try await count("SELECT coalesce(sum(on_hand), 0)::int8 FROM inventory.stock")
    let reserved = try await count("SELECT coalesce(sum(reserved), 0)::int8 FROM inventory.stock")
    let sold = try await count(
      "SELECT coalesce(sum(l.quantity), 0)::int8 FROM orders.order_lines l JOIN orders.orders o ON o.id = l.order_id WHERE o.status = 'CONFIRMED'")
    #expect(reserved == 0)
    #expect(units - onHand == sold)
    await pool.close()
  }
}

extension Sequence {
  fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
    var results: [T] = []
    for element in self { results.append(try await transform(element)) }
    return results
  }
}
