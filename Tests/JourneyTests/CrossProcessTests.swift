import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Logging
import Messages
import NIOCore
import RPC
import TestSupport
import Testing

/// Services split over two server processes (two EmporiumApps, each with its own server, pool
/// and client pools, on one database): the storefront's services in one, orders and payments in
/// the other, which reaches the first through `remotePeers`.
@Suite("Services in separate processes: remote peers through the client pool, service identities across processes")
struct CrossProcessTests {
  static let storefront = ["auth", "catalog", "cart", "inventory"]
  static let money = ["payments", "orders"]

  static func keysDirectory() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emporium-keys-" + UUID().uuidString).path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
  }

  /// Runs `body` with the storefront process and the money process (whose peers are the
  /// storefront's address); `moneyKeys` defaults to the keys both share.
  static func topology(
    moneyKeys: String? = nil, _ body: (_ storefront: TestApp, _ money: TestApp) async throws -> Void
  ) async throws {
    let database = try await TestApp.newDatabase("topology")
    let keys = try keysDirectory()
    defer { try? FileManager.default.removeItem(atPath: keys) }
    try await TestApp.run("storefront", databaseURL: database, services: try ServiceCatalog.named(storefront), keysDirectory: keys) {
      storefront in
      let port = try await storefront.app.server.localAddress().port!
      let address = StaticEndpoints([Endpoint(host: "127.0.0.1", port: port)])
      try await TestApp.run(
        "money", databaseURL: database, services: try ServiceCatalog.named(money),
        remotePeers: ["catalog": address, "cart": address, "inventory": address], keysDirectory: moneyKeys ?? keys
      ) { money in
        try await body(storefront, money)
      }
    }
  }

  /// A product with `stock` units, listed through the storefront process; its id.
  static func product(_ storefront: TestApp, stock: Int64) async throws -> String {
    let admin = try await storefront.user(roles: [.admin])
    let seller = try await storefront.seller()
    let category = try await storefront.category(admin: admin)
    let warehouse = try await storefront.warehouse(admin: admin)
    return try await storefront.product(
      "Turntable", price: 25_000, category: category, warehouse: warehouse, stock: stock, seller: seller.options
    ).productId
  }

  @Test("a checkout in the orders process prices, reserves and commits stock in the storefront process, as the orders identity for the customer")
  func checkoutAcrossProcesses() async throws {
    try await Self.topology { storefront, money in
      let product = try await Self.product(storefront, stock: 5)
      // The customer's token is signed by the money process; the storefront verifies it with
      // the keys they share.
      let customer = try await money.user(roles: [.customer])
      let order = try await CommerceV1.OrderService.Client(money.connection).checkout(
        TestApp.checkout([(product, 2)]), options: customer
      ).order!
      #expect(order.status == .confirmed)
      #expect(order.lines.first?.title == "Turntable")
      #expect(order.totals?.subtotal?.amountMinor == 50_000)
      let stock = try await CommerceV1.InventoryService.Client(storefront.connection).getStock(
        .with { $0.productIds = [product] }, options: try await storefront.user(roles: [.admin]))
      #expect(stock.stocks.first?.totalOnHand == 3 && stock.stocks.first?.totalReserved == 0)
      // The money process reached the storefront through its client pool.
      let pool = try #require(money.app.peerPools["inventory"])
      #expect(pool.snapshot().endpoints.map(\.connections).reduce(0, +) >= 1)
    }
  }

  @Test("a process whose signing keys the peer does not share is refused: service identities authenticate calls between processes")
  func foreignKeysAreRefused() async throws {
    let foreign = try Self.keysDirectory()
    defer { try? FileManager.default.removeItem(atPath: foreign) }
    try await Self.topology(moneyKeys: foreign) { storefront, money in
      let product = try await Self.product(storefront, stock: 5)
      let customer = try await money.user(roles: [.customer])
      await #expect(throws: RPCError.self) {
        try await CommerceV1.OrderService.Client(money.connection).checkout(TestApp.checkout([(product, 1)]), options: customer)
      }
      let stock = try await CommerceV1.InventoryService.Client(storefront.connection).getStock(
        .with { $0.productIds = [product] }, options: try await storefront.user(roles: [.admin]))
      #expect(stock.stocks.first?.totalOnHand == 5 && stock.stocks.first?.totalReserved == 0)
    }
  }

  @Test("a peer neither hosted nor given an address is a start-up error naming it; so is a service both hosted and remote")
  func missingPeers() async throws {
    var configuration = EmporiumApp.Configuration(databaseURL: "postgresql://nobody@127.0.0.1:1/none")
    configuration.services = try ServiceCatalog.named(["orders"])
    configuration.remotePeers = ["catalog": StaticEndpoints([Endpoint(host: "127.0.0.1", port: 1)])]
    await #expect {
      _ = try await EmporiumApp.start(configuration, logger: .init(label: "test"))
    } throws: { error in
      "\(error)".contains("'orders' calls 'cart', which this process neither hosts nor reaches")
    }
    configuration.services = try ServiceCatalog.named(["catalog", "auth"])
    await #expect {
      _ = try await EmporiumApp.start(configuration, logger: .init(label: "test"))
    } throws: { error in
      "\(error)".contains("'catalog' is hosted here and also given as a remote peer")
    }
  }

  @Test("--peers lists: static addresses, a DNS name, IPv6 literals; mistakes name the entry")
  func peerMaps() throws {
    var map = PeerMap()
    try map.parse("inventory=127.0.0.1:7701|127.0.0.1:7702,catalog=catalog.internal:7700")
    try map.parse("cart=[::1]:7703")
    #expect(map.peers["inventory"]?.endpoints == [Endpoint(host: "127.0.0.1", port: 7701), Endpoint(host: "127.0.0.1", port: 7702)])
    #expect(map.peers["inventory"]?.usesDNS == false)
    #expect(map.peers["catalog"]?.usesDNS == true)
    #expect(map.peers["cart"]?.endpoints == [Endpoint(host: "::1", port: 7703)] && map.peers["cart"]?.usesDNS == false)
    #expect(map.resolvers["catalog"] is DNSEndpoints)
    #expect(map.resolvers["inventory"] is StaticEndpoints)
    for (text, message) in [
      ("inventory", "expected NAME=HOST:PORT"), ("Inventory=h:1", "is not a service name"), ("x=h", "is not HOST:PORT"),
      ("x=h:0", "is not HOST:PORT"), ("x=:80", "has no host"), ("inventory=h:1", "given twice"),
    ] {
      #expect(throws: PeerMap.ParseError.self) { try map.parse(text) }
      do { try map.parse(text) } catch { #expect(error.description.contains(message), "\(text): \(error)") }
    }
  }
}
