import CommerceAPI
import CommerceKit
import CommerceTestSupport
import Foundation
import Messages
import Postgres
import RPC
import TestSupport
import Testing

@testable import CommerceOrders

/// Checkout's saga up to the payment (PaymentService is not hosted: payments are unreachable).
@Suite("OrderService checkout")
struct CheckoutTests {
  @Test("invalid requests fail with INVALID_ARGUMENT naming the fields; CART_EMPTY for an empty cart")
  func validation() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      var request = OrderHarness.request([("p", 1)])
      request.idempotencyKey = ""
      request.shippingAddress = nil
      let error = await expectFailure(.invalidArgument) { try await h.orders.checkout(request, options: customer) }
      let fields = Set(error?.invalidFields ?? [])
      #expect(fields.contains("idempotency_key") && fields.contains("shipping_address"))
      await expectFailure(.invalidArgument) {
        try await h.orders.checkout(OrderHarness.request([("p", 0), ("p", 1)]), options: customer)
      }
      var fromCart = OrderHarness.request([])
      fromCart.itemsSource = .cart(.init())
      await expectFailure(.failedPrecondition, reason: "CART_EMPTY") { try await h.orders.checkout(fromCart, options: customer) }
      // Only users check out.
      await expectFailure(.permissionDenied) {
        try await h.orders.checkout(OrderHarness.request([("p", 1)]), options: try await h.host.service("reviews"))
      }
      #expect(try await h.orderCount() == 0)
    }
  }

  @Test("NOT_FOUND, PRODUCT_NOT_PURCHASABLE and PRICE_CHANGED create no order")
  func pricingFailures() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let draft = try await h.product(status: .draft)
      let active = try await h.product(price: 1000)
      await expectFailure(.notFound) { try await h.orders.checkout(OrderHarness.request([("unknown-product", 1)]), options: customer) }
      let notPurchasable = await expectFailure(.failedPrecondition, reason: "PRODUCT_NOT_PURCHASABLE") {
        try await h.orders.checkout(OrderHarness.request([(draft, 1)]), options: customer)
      }
      #expect(notPurchasable?.commerceMetadata["productId"] == draft)
      // 2 x 1000 + 499 standard shipping, 8% tax on both: 160 + 40.
      let changed = await expectFailure(.failedPrecondition, reason: "PRICE_CHANGED") {
        try await h.orders.checkout(OrderHarness.request([(active, 2)], expectedTotal: 2000), options: customer)
      }
      #expect(changed?.commerceMetadata["actualMinor"] == "2699")
      #expect(try await h.orderCount() == 0)
      #expect(try await h.stock(active)[1] == 0)
    }
  }

  @Test("INSUFFICIENT_STOCK records a FAILED order with the decided metadata; stock is unchanged; a retry replays it")
  func insufficientStock() async throws {
    try await OrderHarness.run { h in
      let (customerID, customer) = try await h.customer()
      let plenty = try await h.product(stock: 10)
      let short = try await h.product(stock: 1)
      let request = OrderHarness.request([(plenty, 2), (short, 3)])
      let error = await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") {
        try await h.orders.checkout(request, options: customer)
      }
      let metadata = error?.commerceMetadata ?? [:]
      #expect(metadata["productId"] == short && metadata["requested"] == "3" && metadata["available"] == "1")
      let orderID = try #require(metadata["orderId"])
      let subjects = error?.details?.details.flatMap { detail -> [String] in
        guard case .preconditionFailure(let failure) = detail.detail else { return [] }
        return failure.violations.map(\.subject)
      }
      #expect(subjects == ["product/\(short)"])
      let order = try await h.orders.getOrder(.with { $0.orderId = orderID }, options: customer).order!
      #expect(order.status == .failed && order.customerId == customerID)
      #expect(order.failure?.reason == "INSUFFICIENT_STOCK" && order.failure?.shortProductIds == [short])
      #expect(order.statusHistory.map(\.status) == [.pending, .failed])
      #expect(try await h.stock(plenty) == [10, 0])
      #expect(try await h.stock(short) == [1, 0])
      // The same key and request: the same failure, no second order.
      let again = await expectFailure(.failedPrecondition, reason: "INSUFFICIENT_STOCK") {
        try await h.orders.checkout(request, options: customer)
      }
      #expect(again?.commerceMetadata["orderId"] == orderID)
      #expect(try await h.orderCount() == 1)
      // The same key with another request.
      var other = OrderHarness.request([(plenty, 1)])
      other.idempotencyKey = request.idempotencyKey
      await expectFailure(.invalidArgument, reason: "IDEMPOTENCY_KEY_REUSED") { try await h.orders.checkout(other, options: customer) }
    }
  }

  @Test("with payments unreachable the order waits in AWAITING_PAYMENT holding its reservation; a payment event confirms it")
  func awaitingPaymentThenAuthorized() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(price: 2500, stock: 5)
      let response = try await h.orders.checkout(OrderHarness.request([(product, 2)]), options: customer)
      let order = try #require(response.order)
      #expect(order.status == .awaitingPayment && !order.reservationId.isEmpty)
      // 5000 subtotal: free standard shipping; 8% tax.
      #expect(order.totals?.total?.amountMinor == 5400 && order.totals?.shipping?.amountMinor == 0)
      #expect(try await h.stock(product) == [5, 2])
      let reservation = try await h.inventory.getReservation(.with { $0.reservationId = order.reservationId }, options: h.admin).reservation
      #expect(reservation?.orderId == order.orderId && reservation?.status == .active)
      let confirmed = try await h.paymentEvent(order.orderId, authorized: true, eventID: "evt-1")
      #expect(confirmed.order?.status == .confirmed && !confirmed.duplicate)
      #expect(try await h.stock(product) == [3, 0])
      let duplicate = try await h.paymentEvent(order.orderId, authorized: true, eventID: "evt-1")
      #expect(duplicate.duplicate && duplicate.order?.version == confirmed.order?.version)
      let log = try await h.service.store.sagaLog(UUID(id: order.orderId)!).map(\.step)
      #expect(log.starts(with: ["created", "reserved", "awaiting-payment"]) && log.contains("confirmed"))
    }
  }

  @Test("a payment failure event releases the reservation and fails the order")
  func paymentFailedEvent() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      let order = try await h.orders.checkout(OrderHarness.request([(product, 2)]), options: customer).order!
      let failed = try await h.paymentEvent(order.orderId, authorized: false)
      #expect(failed.order?.status == .failed && failed.order?.failure?.reason == "PAYMENT_DECLINED")
      #expect(try await h.stock(product) == [5, 0])
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.paymentEvent(order.orderId, authorized: true)
      }
    }
  }

  @Test("20 concurrent checkouts with one key: one order, one reservation, every call answers it")
  func concurrentRetries() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 50)
      let request = OrderHarness.request([(product, 1)])
      let ids = try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<20 {
          group.addTask { try await h.orders.checkout(request, options: customer).order!.orderId }
        }
        return try await group.reduce(into: Set<String>()) { $0.insert($1) }
      }
      #expect(ids.count == 1)
      #expect(try await h.orderCount() == 1)
      #expect(try await h.reservations(order: ids.first!) == 1)
      #expect(try await h.stock(product)[1] == 1)
    }
  }
}


/// Cart checkouts, deadlines and WatchOrder across a reconnect.
@Suite("OrderService checkout from the cart")
struct CartCheckoutTests {
  @Test("a cart checkout buys the available lines; once CONFIRMED they leave the cart, other lines stay")
  func cartCheckout() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let bought = try await h.product(price: 1500, stock: 5)
      let soldOut = try await h.product(price: 900, stock: 1)
      for (product, quantity) in [(bought, Int32(2)), (soldOut, Int32(1))] {
        _ = try await h.cart.addCartItem(
          .with {
            $0.productId = product
            $0.quantity = quantity
          }, options: customer)
      }
      // soldOut sells out; once the catalog learns it (the inventory relay), the cart shows the
      // line unavailable.
      _ = try await h.inventory.setStock(
        .with {
          $0.productId = soldOut
          $0.warehouseId = h.warehouseID
          $0.onHand = 0
        }, options: h.seller)
      let unavailable = await eventually {
        let cart = try? await h.cart.getCart(.init(), options: customer).cart
        return cart?.items.first { $0.productId == soldOut }?.available == false
      }
      #expect(unavailable)
      var request = OrderHarness.request([])
      request.itemsSource = .cart(.init())
      let order = try await h.orders.checkout(request, options: customer).order!
      #expect(order.lines.map(\.productId) == [bought] && order.lines.first?.quantity == 2)
      #expect(order.status == .awaitingPayment)
      // The cart is left alone until the order is CONFIRMED.
      #expect(try await h.cart.getCart(.init(), options: customer).cart?.items.count == 2)
      let confirmed = try await h.paymentEvent(order.orderId, authorized: true).order!
      #expect(confirmed.status == .confirmed)
      #expect(try await h.stock(bought) == [3, 0])
      let items = try await h.cart.getCart(.init(), options: customer).cart?.items.map(\.productId)
      #expect(items == [soldOut])
      // A stale expected_cart_version fails before anything is stored.
      var stale = OrderHarness.request([])
      stale.itemsSource = .cart(.with { $0.expectedCartVersion = 1 })
      await expectFailure(.aborted, reason: "VERSION_MISMATCH") { try await h.orders.checkout(stale, options: customer) }
    }
  }

  @Test("checkouts whose caller's deadline passes at any point carry on; a retry with the key returns the one outcome")
  func deadlinePassed() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 50)
      var keys: [String] = []
      // Deadlines from before pricing to after the reservation: some pass mid-saga.
      for milliseconds in [5, 10, 20, 30, 45, 60, 90, 130, 200, 400] {
        let request = OrderHarness.request([(product, 1)])
        keys.append(request.idempotencyKey)
        var hurried = customer
        hurried.timeout = .milliseconds(Int64(milliseconds))
        _ = try? await h.orders.checkout(request, options: hurried)
        // The retry answers the outcome, or ABORTED while the saga still runs: retried, as a
        // client does.
        var answer: CommerceV1.Order?
        while answer == nil {
          do {
            answer = try await h.orders.checkout(request, options: customer).order
          } catch let error as RPCError where error.code == .aborted {
            try await Task.sleep(for: error.retryDelay ?? .milliseconds(500))
          }
        }
        let order = try #require(answer)
        #expect(order.status == .awaitingPayment)
        #expect(try await h.reservations(order: order.orderId) == 1)
      }
      #expect(try await h.orderCount() == Int64(keys.count))
      #expect(try await h.stock(product) == [50, Int64(keys.count)])
    }
  }

  @Test("WatchOrder follows AWAITING_PAYMENT to CONFIRMED, resumed after a disconnect misses nothing, and ends UNAVAILABLE at a drain")
  func watchAcrossReconnect() async throws {
    try await OrderHarness.run { h in
      let (_, customer) = try await h.customer()
      let product = try await h.product(stock: 5)
      let order = try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customer).order!
      // First stream: the current order, then the caller disconnects.
      let firstSeen = try await h.orders.watchOrder(.with { $0.orderId = order.orderId }, options: customer) { stream in
        var iterator = stream.makeAsyncIterator()
        return try await iterator.next()!.order!
      }
      #expect(firstSeen.status == .awaitingPayment)
      // While nobody watches, the payment is authorized.
      _ = try await h.paymentEvent(order.orderId, authorized: true)
      // Resumed from the last version seen: the CONFIRMED order at once.
      let resumed = try await h.orders.watchOrder(
        .with {
          $0.orderId = order.orderId
          $0.afterVersion = firstSeen.version
        }, options: customer
      ) { stream in
        var iterator = stream.makeAsyncIterator()
        return try await iterator.next()!
      }
      #expect(resumed.order?.status == .confirmed && resumed.previousStatus == .unspecified)
      #expect(resumed.order!.version > firstSeen.version)
      #expect(resumed.order?.statusHistory.map(\.status) == [.pending, .awaitingPayment, .confirmed])
      // When the server drains, open streams end with UNAVAILABLE (resume elsewhere).
      let drained = await expectFailure(.unavailable) {
        try await h.orders.watchOrder(.with { $0.orderId = order.orderId }, options: customer) { stream in
          var iterator = stream.makeAsyncIterator()
          _ = try await iterator.next()
          h.service.watchDrain.drain()
          while try await iterator.next() != nil {}
        }
      }
      #expect(drained?.retryDelay != nil)
    }
  }
}
