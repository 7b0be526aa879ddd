import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import RPC
import TestSupport
import Testing

@Suite("AdminService: the operations dashboard and the statistics it is made of")
struct AdminDashboardTests {
  static func window(_ start: Date, _ end: Date) -> CommerceV1.TimeWindow {
    .with {
      $0.startTime = .init(start)
      $0.endTime = .init(end)
    }
  }

  @Test("GetDashboard adds up real orders, refunds, declines, accounts and stock: cancelled and failed orders stay out of revenue")
  func figures() async throws {
    try await AdminHarness.run { h in
      let start = Date().addingTimeInterval(-60)
      let orders = CommerceV1.OrderService.Client(h.host.connection)
      let payments = CommerceV1.PaymentService.Client(h.host.connection)
      let seller = try await h.host.seller()
      let category = try await h.host.category(admin: h.admin)
      let warehouse = try await h.host.warehouse(admin: h.admin)
      func product(_ title: String, price: Int64, stock: Int64, archived: Bool = false) async throws -> String {
        let created = try await h.host.product(
          title, price: price, category: category, warehouse: warehouse, stock: stock, seller: seller.options)
        if archived {
          _ = try await h.catalog.archiveProduct(
            .with { $0.productId = created.productId; $0.expectedVersion = created.version }, options: seller.options)
        }
        return created.productId
      }
      let headphones = try await product("Headphones", price: 1999, stock: 10)
      let cable = try await product("Cable", price: 500, stock: 5)
      let soldOut = try await product("Speaker", price: 9900, stock: 0)
      _ = try await product("Old model", price: 100, stock: 1, archived: true)

      let first = try await h.host.user(try await h.register("Ada").user!.userId, roles: [.customer])
      let second = try await h.host.user(try await h.register("Grace").user!.userId, roles: [.customer])
      _ = try await h.register("Linus", seller: true)  // a pending seller application

      let bigOrder = try await orders.checkout(TestApp.checkout([(headphones, 2)]), options: first).order!
      let mixed = try await orders.checkout(TestApp.checkout([(headphones, 1), (cable, 2)]), options: second).order!
      let regret = try await orders.checkout(TestApp.checkout([(cable, 1)]), options: first).order!
      _ = try await orders.cancelOrder(
        .with {
          $0.orderId = regret.orderId
          $0.reason = .customerRequested
        }, options: first)
      await expectFailure(.failedPrecondition) {
        try await orders.checkout(TestApp.checkout([(headphones, 1)], card: "4000 0000 0000 0002"), options: second)
      }
      let delivered = try await h.host.deliver(bigOrder)
      _ = try await payments.refundPayment(
        .with {
          $0.paymentId = delivered.paymentId
          $0.amount = TestApp.usd(500)
          $0.reason = .goodwill
          $0.idempotencyKey = UUID().uuidString
        }, options: h.admin)

      // A ticket and a return are open.
      let support = CommerceV1.SupportService.Client(h.host.connection)
      _ = try await support.createTicket(
        .with {
          $0.subject = "Where is my cable?"
          $0.body = "It has not arrived."
          $0.category = .shipping
          $0.idempotencyKey = UUID().uuidString
        }, options: second)
      _ = try await support.requestReturn(
        .with {
          $0.orderId = delivered.orderId
          $0.lines = [.with { $0.orderLineId = delivered.lines[0].orderLineId; $0.quantity = 1; $0.reason = .defective }]
          $0.idempotencyKey = UUID().uuidString
        }, options: first)
      let returning = try await eventually {
        try await orders.getOrder(.with { $0.orderId = delivered.orderId }, options: first).order?.status == .returnRequested
      }
      #expect(returning, "the return reaches the order")

      // Stock levels reach the catalog through the inventory's outbox.
      let heard = try await eventually {
        let alerts = try await h.catalog.getStockAlerts(.init(), options: h.admin)
        return alerts.alerts.map(\.productId) == [soldOut, cable] && alerts.alerts.map(\.available) == [0, 3]
      }
      #expect(heard, "the catalog hears of the cable's and the speaker's stock")

      let end = Date().addingTimeInterval(60)
      let board = try await h.service.getDashboard(
        .with {
          $0.windowStartTime = .init(start)
          $0.windowEndTime = .init(end)
        }, options: h.admin)
      let paid = bigOrder.totals!.total!.amountMinor + mixed.totals!.total!.amountMinor
      #expect(board.ordersPlaced == 3)
      #expect(
        Dictionary(uniqueKeysWithValues: board.ordersByStatus.map { ($0.status, $0.count) }) == [.returnRequested: 1, .confirmed: 1, .cancelled: 1])
      #expect(board.grossRevenue.map { "\($0.amountMinor) \($0.currency)" } == ["\(paid) USD"])
      #expect(board.averageOrderValue.map { "\($0.amountMinor) \($0.currency)" } == ["\(paid / 2) USD"])
      #expect(board.failedCheckouts == 1)
      #expect(board.paymentDeclines == 1)
      #expect(board.refunds.map { "\($0.amountMinor) \($0.currency)" } == ["500 USD"])
      #expect(board.newUsers == 4)  // the seller, two customers, the applicant
      #expect(board.activeUsers == 4)  // registration signs in
      #expect(board.pendingSellerApplications == 1)
      #expect(board.openTickets == 1 && board.openReturns == 1)
      #expect(board.salesByDay.reduce(0) { $0 + $1.orders } == 2)
      #expect(board.salesByDay.reduce(0) { $0 + $1.revenue!.amountMinor } == paid)
      #expect(board.topProducts.map(\.productId) == [headphones, cable])
      #expect(board.topProducts.map(\.units) == [3, 2])
      #expect(board.topProducts.map { $0.revenue!.amountMinor } == [3 * 1999, 2 * 500])
      #expect(board.topProducts.first?.title == "Headphones")
      #expect(board.lowStockProducts == 2)
      #expect(board.stockAlerts.map(\.productId) == [soldOut, cable])
      #expect(abs(board.windowStartTime!.date.timeIntervalSince(start)) < 0.001)
      #expect(abs(board.windowEndTime!.date.timeIntervalSince(end)) < 0.001)

      // Figures are kept for a minute per window: a new order shows only in another window.
      _ = try await orders.checkout(TestApp.checkout([(headphones, 1)]), options: second)
      let again = try await h.service.getDashboard(
        .with {
          $0.windowStartTime = .init(start)
          $0.windowEndTime = .init(end)
        }, options: h.admin)
      #expect(again.ordersPlaced == 3 && again.computeTime == board.computeTime)
      let other = try await h.service.getDashboard(
        .with {
          $0.windowStartTime = .init(start.addingTimeInterval(-1))
          $0.windowEndTime = .init(end)
        }, options: h.admin)
      #expect(other.ordersPlaced == 4)

      // Nothing happened before the test: an earlier window is empty.
      let before = try await h.service.getDashboard(
        .with {
          $0.windowStartTime = .init(start.addingTimeInterval(-86_400))
          $0.windowEndTime = .init(start.addingTimeInterval(-3600))
        }, options: h.admin)
      #expect(before.ordersPlaced == 0 && before.grossRevenue.isEmpty && before.topProducts.isEmpty && before.newUsers == 0)
      #expect(before.lowStockProducts == 2)  // stock alerts are about now
    }
  }

  @Test("GetDashboard defaults to the last 24 hours and refuses a window that ends before it starts or spans more than 366 days")
  func window() async throws {
    try await AdminHarness.run { h in
      let asked = Date()
      let board = try await h.service.getDashboard(.init(), options: h.admin)
      let end = try #require(board.windowEndTime?.date)
      #expect(abs(end.timeIntervalSince(asked)) < 300)
      #expect(abs(board.windowStartTime!.date.timeIntervalSince(end.addingTimeInterval(-86_400))) < 0.001)
      #expect(board.ordersPlaced == 0 && board.computeTime != nil)

      let backwards = await expectFailure(.invalidArgument) {
        try await h.service.getDashboard(
          .with {
            $0.windowStartTime = .init(asked)
            $0.windowEndTime = .init(asked.addingTimeInterval(-1))
          }, options: h.admin)
      }
      #expect(backwards?.invalidFields == ["window_start_time"])
      let tooLong = await expectFailure(.invalidArgument) {
        try await h.service.getDashboard(.with { $0.windowStartTime = .init(asked.addingTimeInterval(-367 * 86_400)) }, options: h.admin)
      }
      #expect(tooLong?.invalidFields == ["window_start_time"])
      // A start in the future with the default end ends before it starts.
      let future = await expectFailure(.invalidArgument) {
        try await h.service.getDashboard(.with { $0.windowStartTime = .init(asked.addingTimeInterval(3600)) }, options: h.admin)
      }
      #expect(future?.invalidFields == ["window_start_time"])
    }
  }

  @Test("the statistics RPCs answer the admin identity and ADMIN users only, and check their windows and limits")
  func statisticsAccess() async throws {
    try await AdminHarness.run { h in
      let orders = CommerceV1.OrderService.Client(h.host.connection)
      let payments = CommerceV1.PaymentService.Client(h.host.connection)
      let window = Self.window(Date().addingTimeInterval(-3600), Date())
      let customer = try await h.host.user(roles: [.customer])
      let seller = try await h.host.user(roles: [.seller])
      let adminService = try await h.host.service("admin")
      let shipping = try await h.host.service("shipping")
      for options in [customer, seller, shipping] {
        await expectFailure(.permissionDenied) { try await orders.getOrderStats(.with { $0.window = window }, options: options) }
        await expectFailure(.permissionDenied) { try await payments.getPaymentStats(.with { $0.window = window }, options: options) }
        await expectFailure(.permissionDenied) { try await h.auth.getUserStats(.with { $0.window = window }, options: options) }
        await expectFailure(.permissionDenied) { try await h.catalog.getStockAlerts(.init(), options: options) }
      }
      await expectFailure(.unauthenticated) { try await orders.getOrderStats(.with { $0.window = window }) }
      for options in [adminService, h.admin] {
        #expect(try await orders.getOrderStats(.with { $0.window = window }, options: options).ordersPlaced == 0)
        #expect(try await payments.getPaymentStats(.with { $0.window = window }, options: options).paymentDeclines == 0)
        #expect(try await h.auth.getUserStats(.with { $0.window = window }, options: options).pendingSellerApplications == 0)
        #expect(try await h.catalog.getStockAlerts(.init(), options: options).lowStockProducts == 0)
      }

      let missing = await expectFailure(.invalidArgument) { try await orders.getOrderStats(.init(), options: adminService) }
      #expect(missing?.invalidFields == ["window"])
      let halfWindow = await expectFailure(.invalidArgument) {
        try await payments.getPaymentStats(.with { $0.window = .with { $0.startTime = .init(Date()) } }, options: adminService)
      }
      #expect(halfWindow?.invalidFields == ["window"])
      let long = await expectFailure(.invalidArgument) {
        try await h.auth.getUserStats(
          .with { $0.window = Self.window(Date().addingTimeInterval(-400 * 86_400), Date()) }, options: adminService)
      }
      #expect(long?.invalidFields == ["window"])
      let top = await expectFailure(.invalidArgument) {
        try await orders.getOrderStats(.with { $0.window = window; $0.topProducts = 51 }, options: adminService)
      }
      #expect(top?.invalidFields == ["top_products"])
      let alerts = await expectFailure(.invalidArgument) {
        try await h.catalog.getStockAlerts(.with { $0.threshold = -1; $0.maxResults = 101 }, options: adminService)
      }
      #expect(alerts?.invalidFields == ["threshold", "max_results"])
    }
  }
}
