import CommerceAPI
import CommerceKit
import CommercePayments
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceOrders

/// The whole saga with PaymentService and its sandbox provider.
@Suite("OrderService checkout with payments")
struct OrderPaymentTests {
  static let declined = "4000 0000 0000 0002"
  static let insufficientFunds = "4000 0000 0000 9995"
  static let asynchronous = "4000 0000 0000 3220"

  @Test("a cart checkout is CONFIRMED: payment authorized once, stock committed, bought lines cleared from the cart")
  func happyPath() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(price: 1500, stock: 5)
      _ = try await h.cart.addCartItem(
        .with {
          $0.productId = product
          $0.quantity = 2
        }, options: customer)
      var request = OrderHarness.request([])
      request.itemsSource = .cart(.init())
      let order = try await h.orders.checkout(request, options: customer).order!
      #expect(order.status == .confirmed && order.paymentStatus == .authorized && !order.paymentId.isEmpty)
      #expect(order.paymentMethod?.lastFour == "4242")
      #expect(try await h.stock(product) == [3, 0])
      #expect(try await h.cart.getCart(.init(), options: customer).cart?.items.isEmpty == true)
      let payment = try await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.admin).payment!
      #expect(payment.status == .authorized && payment.amount?.amountMinor == order.totals?.total?.amountMinor)
      #expect(h.sandbox!.charges(forKey: "AuthorizePayment:\(order.orderId):authorize").count == 1)
    }
  }

  @Test("20 concurrent checkouts with one key: one order, one reservation, one authorization")
  func concurrentRetries() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 50)
      let request = OrderHarness.request([(product, 1)])
      let orders = try await withThrowingTaskGroup(of: CommerceV1.Order.self) { group in
        for _ in 0..<20 { group.addTask { try await h.orders.checkout(request, options: customer).order! } }
        return try await group.reduce(into: [CommerceV1.Order]()) { $0.append($1) }
      }
      #expect(Set(orders.map(\.orderId)).count == 1 && orders.allSatisfy { $0.status == .confirmed })
      let id = orders[0].orderId
      #expect(try await h.orderCount() == 1)
      #expect(try await h.reservations(order: id) == 1)
      let payments = try await h.payments.listPayments(.with { $0.orderId = id }, options: h.admin).payments
      #expect(payments.count == 1)
      #expect(h.sandbox!.charges.count == 1)
      #expect(try await h.stock(product) == [49, 0])
    }
  }

  @Test("declined and insufficient-funds cards: FAILED, PAYMENT_DECLINED, stock already released when the answer arrives")
  func declined() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 3)
      for (card, reason) in [(Self.declined, "DECLINE_REASON_CARD_DECLINED"), (Self.insufficientFunds, "DECLINE_REASON_INSUFFICIENT_FUNDS")] {
        let request = OrderHarness.request([(product, 2)], card: card)
        let error = await expectFailure(.failedPrecondition, reason: "PAYMENT_DECLINED") {
          try await h.orders.checkout(request, options: customer)
        }
        // Read at once: the reservation was released before the answer.
        #expect(try await h.stock(product) == [3, 0])
        let metadata = error?.commerceMetadata ?? [:]
        #expect(metadata["declineReason"] == reason && metadata["paymentId"]?.isEmpty == false)
        let orderID = try #require(metadata["orderId"])
        let order = try await h.orders.getOrder(.with { $0.orderId = orderID }, options: customer).order!
        #expect(order.status == .failed && order.failure?.reason == "PAYMENT_DECLINED" && order.paymentStatus == .declined)
        let reservation = try await h.inventory.getReservation(.with { $0.reservationId = order.reservationId }, options: h.admin)
        #expect(reservation.reservation?.status == .released)
        // A retry answers the same failure.
        let again = await expectFailure(.failedPrecondition, reason: "PAYMENT_DECLINED") {
          try await h.orders.checkout(request, options: customer)
        }
        #expect(again?.commerceMetadata["orderId"] == orderID)
      }
    }
  }

  @Test("a card PaymentService refuses: INVALID_ARGUMENT, the order FAILED and its stock released before the answer")
  func refusedCard() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 2)
      await expectFailure(.invalidArgument) {
        try await h.orders.checkout(OrderHarness.request([(product, 1)], card: "4242 4242 4242 4241"), options: customer)
      }
      #expect(try await h.stock(product) == [2, 0])
      let orders = try await h.orders.listOrders(.init(), options: customer).orders
      #expect(orders.count == 1 && orders.first?.status == .failed && orders.first?.failure?.reason.isEmpty == false)
    }
  }

  @Test("an order cancelled while its payment is pending: stock released at once; the payment is voided once authorized")
  func cancelWhilePending() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 2)
      let order = try await h.orders.checkout(OrderHarness.request([(product, 2)], card: Self.asynchronous), options: customer).order!
      #expect(order.status == .awaitingPayment && order.paymentStatus == .pending)
      let cancelled = try await h.orders.cancelOrder(
        .with {
          $0.orderId = order.orderId
          $0.reason = .customerRequested
        }, options: customer
      ).order!
      #expect(cancelled.status == .cancelled)
      #expect(try await h.stock(product) == [2, 0])
      let voided = await eventually {
        (try? await h.payments.getPayment(.with { $0.paymentId = order.paymentId }, options: h.admin).payment?.status) == .voided
      }
      #expect(voided)
      #expect(try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: customer).order?.status == .cancelled)
    }
  }

  @Test(
    "500 concurrent checkouts of one product with 100 units: exactly 100 CONFIRMED, stock ends 0 and is never negative (reservations coalesced, and not)",
    arguments: [true, false])
  func contention(coalesce: Bool) async throws {
    try await OrderHarness.run(payments: true, coalesceReservations: coalesce) { h in
      let product = try await h.product(stock: 100)
      var callers: [CallOptions] = []
      for _ in 0..<10 { callers.append(try await h.customer().options) }
      let customers = callers
      let sampling = Task {
        var lowest = Int64.max
        while !Task.isCancelled {
          guard let level = try? await h.stock(product) else { break }
          lowest = min(lowest, level[0] - level[1], level[0])
          try? await Task.sleep(for: .milliseconds(20))
        }
        return lowest
      }
      let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
        for index in 0..<500 {
          group.addTask {
            do {
              let order = try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customers[index % 10]).order!
              return order.status == .confirmed ? "CONFIRMED" : "\(order.status)"
            } catch let error as RPCError {
              return error.commerceReason ?? error.code.name
            }
          }
        }
        return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
      }
      sampling.cancel()
      #expect(outcomes == ["CONFIRMED": 100, "INSUFFICIENT_STOCK": 400])
      #expect(try await sampling.value >= 0)
      #expect(try await h.stock(product) == [0, 0])
    }
  }

  @Test("the asynchronous card: AWAITING_PAYMENT, then CONFIRMED when the result arrives; WatchOrder follows it to CONFIRMED")
  func asynchronousCard() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      let order = try await h.orders.checkout(OrderHarness.request([(product, 1)], card: Self.asynchronous), options: customer).order!
      #expect(order.status == .awaitingPayment && order.paymentStatus == .pending)
      let seen = try await h.orders.watchOrder(.with { $0.orderId = order.orderId }, options: customer) { stream in
        var statuses: [CommerceV1.OrderStatus] = []
        for try await message in stream {
          statuses.append(message.order!.status)
          if message.order!.status == .confirmed { break }
        }
        return statuses
      }
      // The stream starts with the order as it is (AWAITING_PAYMENT unless the result already
      // arrived) and follows it to CONFIRMED.
      #expect(seen.last == .confirmed && seen.allSatisfy { $0 == .awaitingPayment || $0 == .confirmed })
      let confirmed = try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: customer).order!
      #expect(confirmed.statusHistory.map(\.status) == [.pending, .awaitingPayment, .confirmed])
      #expect(confirmed.paymentStatus == .authorized)
      #expect(try await h.stock(product) == [4, 0])
    }
  }

  @Test("cancelling a CONFIRMED order voids the payment and restocks; shipping a packed order captures it")
  func cancelAndCapture() async throws {
    try await OrderHarness.run(payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      let cancelled = try await h.orders.checkout(OrderHarness.request([(product, 2)]), options: customer).order!
      let after = try await h.orders.cancelOrder(
        .with {
          $0.orderId = cancelled.orderId
          $0.reason = .customerRequested
        }, options: customer
      ).order!
      #expect(after.status == .cancelled && after.paymentStatus == .voided)
      #expect(try await h.stock(product) == [5, 0])

      let shipped = try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customer).order!
      let shipping = try await h.host.service("shipping")
      func event(_ kind: CommerceV1.OrderEventKind, _ lines: [CommerceV1.OrderEventLine] = []) async throws -> CommerceV1.Order {
        try await h.orders.applyOrderEvent(
          .with {
            $0.orderId = shipped.orderId
            $0.eventId = UUID().uuidString
            $0.kind = kind
            $0.subjectId = "shipment-1"
            $0.lines = lines
          }, options: shipping
        ).order!
      }
      let packed = try await event(.shipmentCreated, [.with { $0.orderLineId = shipped.lines[0].orderLineId; $0.quantity = 1 }])
      #expect(packed.status == .packed)
      let onItsWay = try await event(.shipmentShipped)
      #expect(onItsWay.status == .shipped && onItsWay.paymentStatus == .captured)
      let payment = try await h.payments.getPayment(.with { $0.paymentId = shipped.paymentId }, options: h.admin).payment!
      #expect(payment.status == .captured)
      let delivered = try await event(.shipmentDelivered)
      #expect(delivered.status == .delivered && delivered.returnWindowCloseTime != nil)
    }
  }

  @Test("a retry while the first call still runs waits, then fails with ABORTED IDEMPOTENCY_KEY_IN_FLIGHT and a RetryInfo")
  func inFlight() async throws {
    var configuration = OrderHarness.testConfiguration()
    configuration.peerCallTimeout = .seconds(12)
    try await OrderHarness.run(configuration: configuration, payments: true) { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      h.sandbox!.injectFault(.timeOutBeforeCharging, on: .authorize)
      let request = OrderHarness.request([(product, 1)])
      let first = Task { try await h.orders.checkout(request, options: customer) }
      let started = await eventually { (try? await h.stock(product)[1]) == 1 }
      #expect(started)
      var hurried = customer
      hurried.timeout = .seconds(6)
      let error = await expectFailure(.aborted, reason: "IDEMPOTENCY_KEY_IN_FLIGHT") { try await h.orders.checkout(request, options: hurried) }
      #expect(error?.retryDelay != nil)
      // The provider did not answer in time: the order waits for the payment's fate.
      let order = try await first.value.order!
      #expect(order.status == .awaitingPayment)
      #expect(try await h.orderCount() == 1)
    }
  }

  @Test("a saga left waiting by a stopped server is compensated by a new server after the timeout; a retry replays the failure")
  func recoveryCompensates() async throws {
    let url = try await TestApp.newDatabase("orders")
    let (request, customerID, product) = try await OrderHarness.run(payments: true, sandboxDelay: .seconds(3600), databaseURL: url) { h in
      let (id, customer) = try await h.customer()
      let product = try await h.product(stock: 4)
      let request = OrderHarness.request([(product, 3)], card: Self.asynchronous)
      let order = try await h.orders.checkout(request, options: customer).order!
      #expect(order.status == .awaitingPayment)
      return (request, id, product)
    }
    try await OrderHarness.run(payments: true, databaseURL: url) { h in
      // Thirty minutes pass: the saga's deadline and its next payment check are due.
      try await h.pool.query("UPDATE orders.orders SET saga_deadline = now(), saga_lease_until = now()")
      let failed = await eventually {
        (try? await h.pool.query("SELECT status FROM orders.orders").first?.decode(0, as: String.self)) == "FAILED"
      }
      #expect(failed)
      #expect(try await h.stock(product) == [4, 0])
      let customer = try await h.host.user(customerID, roles: [.customer])
      let replay = await expectFailure(.failedPrecondition, reason: "PAYMENT_DECLINED") {
        try await h.orders.checkout(request, options: customer)
      }
      #expect(replay?.commerceMetadata["orderId"]?.isEmpty == false)
    }
  }
}
