import CommerceAPI
import CommerceKit
import CommerceSupport
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import RPC
import Testing

/// Every service hosted as `emporium serve` hosts it (``TestApp`` with ``ServiceCatalog/all``),
/// SupportService made through its declaration so tests can run its sweeper at a chosen time;
/// with a seller, a category, a warehouse, a registered support agent (an ADMIN user AuthService
/// knows) and a way to get orders delivered.
struct SupportHarness: Sendable {
  let host: TestApp
  let service: SupportService
  let seller: CallOptions
  let sellerID: String
  let categoryID: String
  let warehouseID: String
  let agent: CallOptions
  let agentID: String
  var support: CommerceV1.SupportService.Client { .init(host.connection) }
  var catalog: CommerceV1.CatalogService.Client { .init(host.connection) }
  var orders: CommerceV1.OrderService.Client { .init(host.connection) }
  var payments: CommerceV1.PaymentService.Client { .init(host.connection) }
  var inventory: CommerceV1.InventoryService.Client { .init(host.connection) }

  static func run(_ body: (SupportHarness) async throws -> Void) async throws {
    let made = Made<SupportService>()
    let services = ServiceCatalog.all.map { declaration in
      declaration.name == "support" ? SupportService.makeDeclaration(made: { made.set($0) }) : declaration
    }
    try await TestApp.run("support", services: services) { host in
      let (agentID, agent) = try await Self.register(host, "Agent", role: .admin)
      let seller = try await host.seller()
      let category = try await host.category(admin: agent)
      let warehouse = try await host.warehouse(admin: agent)
      try await body(
        SupportHarness(
          host: host, service: made.service, seller: seller.options, sellerID: seller.id, categoryID: category, warehouseID: warehouse,
          agent: agent, agentID: agentID))
    }
  }

  /// A registered user (with `role` granted by the AdminService identity): id and call options.
  static func register(_ host: TestApp, _ name: String, role: CommerceV1.Role? = nil) async throws -> (id: String, options: CallOptions) {
    let auth = CommerceV1.AuthService.Client(host.connection)
    let registered = try await auth.registerUser(
      .with {
        $0.email = "\(name.lowercased())-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        $0.password = "correct horse battery"
        $0.displayName = name
      })
    let id = registered.user!.userId
    guard let role else { return (id, try await host.user(id, roles: [.customer])) }
    _ = try await auth.assignRole(
      .with {
        $0.userId = id
        $0.role = role
      }, options: try await host.service("admin"))
    return (id, try await host.user(id, roles: [role]))
  }

  /// A registered customer.
  func customer(_ name: String = "Ada") async throws -> (id: String, options: CallOptions) {
    try await Self.register(host, name)
  }

  /// An active product of the harness's seller (or of `seller`) with `stock` units in the
  /// harness's warehouse.
  func product(title: String = "Headphones", price: Int64 = 1999, stock: Int64 = 100, seller: CallOptions? = nil) async throws -> String {
    try await host.product(
      title, price: price, category: categoryID, warehouse: warehouseID, stock: stock, seller: seller ?? self.seller
    ).productId
  }

  /// Checks out the lines for the customer; with `deliver`, the shipping identity packs, ships
  /// and delivers the order.
  func order(_ lines: [(String, Int32)], for customer: CallOptions, deliver: Bool = true) async throws -> CommerceV1.Order {
    let order = try await orders.checkout(TestApp.checkout(lines), options: customer).order!
    #expect(order.status == .confirmed)
    guard deliver else { return order }
    let delivered = try await host.deliver(order)
    #expect(delivered.status == .delivered)
    return delivered
  }

  /// The units on hand of a product in the harness's warehouse.
  func onHand(_ product: String) async throws -> Int64 {
    let stock = try await inventory.getStock(.with { $0.productIds = [product] }, options: agent)
    return stock.stocks.first?.warehouses.first { $0.warehouseId == warehouseID }?.onHand ?? 0
  }

  static func ticket(_ subject: String = "Where is my parcel?", body: String = "It has been a week.", order: String = "") -> CommerceV1.CreateTicketRequest {
    .with {
      $0.subject = subject
      $0.body = body
      $0.category = .shipping
      $0.orderId = order
      $0.idempotencyKey = UUID().uuidString
    }
  }

  static func message(_ ticket: String, _ body: String, internal isNote: Bool = false) -> CommerceV1.AddTicketMessageRequest {
    .with {
      $0.ticketId = ticket
      $0.body = body
      $0.internalNote = isNote
      $0.idempotencyKey = UUID().uuidString
    }
  }

  static func returnRequest(
    _ order: CommerceV1.Order, _ lines: [(Int, Int32)], reason: CommerceV1.ReturnReason = .damaged, comment: String = "",
    key: String = UUID().uuidString
  ) -> CommerceV1.RequestReturnRequest {
    .with {
      $0.orderId = order.orderId
      $0.lines = lines.map { line in
        .with {
          $0.orderLineId = order.lines[line.0].orderLineId
          $0.quantity = line.1
          $0.reason = reason
        }
      }
      $0.customerComment = comment
      $0.idempotencyKey = key
    }
  }

  func receive(_ r: CommerceV1.ReturnAuthorization, _ lines: [(Int, Int32, CommerceV1.ItemCondition)], as caller: CallOptions? = nil)
    async throws -> CommerceV1.ReturnAuthorization
  {
    try await support.receiveReturn(
      .with {
        $0.returnId = r.returnId
        $0.warehouseId = warehouseID
        $0.lines = lines.map { line in
          .with {
            $0.orderLineId = r.lines[line.0].orderLineId
            $0.receivedQuantity = line.1
            $0.condition = line.2
          }
        }
      }, options: caller ?? seller
    ).returnAuthorization!
  }

  func approve(_ r: CommerceV1.ReturnAuthorization, as caller: CallOptions? = nil) async throws -> CommerceV1.ReturnAuthorization {
    try await support.approveReturn(.with { $0.returnId = r.returnId }, options: caller ?? seller).returnAuthorization!
  }

  func getReturn(_ id: String, as caller: CallOptions? = nil) async throws -> CommerceV1.ReturnAuthorization {
    try await support.getReturn(.with { $0.returnId = id }, options: caller ?? agent).returnAuthorization!
  }

  /// The refund of `units` units of an order line (the first refund of the line): the unit price
  /// of each and the line tax's share, rounded down.
  static func refund(_ line: CommerceV1.OrderLine, units: Int64, before: Int64 = 0) -> Int64 {
    let tax = line.tax?.amountMinor ?? 0
    let quantity = Int64(line.quantity)
    return (line.unitPrice?.amountMinor ?? 0) * units + tax * (before + units) / quantity - tax * before / quantity
  }
}
