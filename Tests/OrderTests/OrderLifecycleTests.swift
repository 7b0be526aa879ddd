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

/// Access rules, the state machine through ApplyOrderEvent and CancelOrder, WatchOrder, and the
/// recovery of unfinished sagas.
@Suite("OrderService lifecycle")
struct OrderLifecycleTests {
  /// A CONFIRMED order of a new customer with one line of `product`.
  func confirmedOrder(_ h: OrderHarness, _ product: String, quantity: Int32 = 1) async throws -> (CommerceV1.Order, CallOptions) {
    let (_, customer) = try await h.customer()
    let order = try await h.orders.checkout(OrderHarness.request([(product, quantity)]), options: customer).order!
    let confirmed = try await h.paymentEvent(order.orderId, authorized: true).order!
    return (confirmed, customer)
  }

  func event(
    _ h: OrderHarness, _ orderID: String, _ kind: CommerceV1.OrderEventKind, subject: String, lines: [(String, Int32)] = [],
    id: String = UUID().uuidString, as service: String = "shipping"
  ) async throws -> CommerceV1.ApplyOrderEventResponse {
    try await h.orders.applyOrderEvent(
      .with {
        $0.orderId = orderID
        $0.eventId = id
        $0.kind = kind
        $0.subjectId = subject
        $0.lines = lines.map { line in .with { $0.orderLineId = line.0; $0.quantity = line.1 } }
      }, options: try await h.host.service(service))
  }

  @Test("who may read, list, cancel and report events")
  func accessRules() async throws {
    try await OrderHarness.run { h in
      let mine = try await h.product()
      let other = try await h.host.seller("Other Goods")
      let theirs = try await h.product(seller: other.options)
      let (customerID, customer) = try await h.customer()
      let order = try await h.orders.checkout(OrderHarness.request([(mine, 1), (theirs, 1)]), options: customer).order!
      let get = CommerceV1.GetOrderRequest.with { $0.orderId = order.orderId }
      #expect(try await h.orders.getOrder(get, options: customer).order?.lines.count == 2)
      #expect(try await h.orders.getOrder(get, options: h.admin).order?.lines.count == 2)
      #expect(try await h.orders.getOrder(get, options: try await h.host.service("shipping")).order?.lines.count == 2)
      // A seller sees only its own lines.
      let sellerView = try await h.orders.getOrder(get, options: h.seller).order!
      #expect(sellerView.lines.map(\.productId) == [mine])
      let (_, stranger) = try await h.customer()
      await expectFailure(.notFound) { try await h.orders.getOrder(get, options: stranger) }
      await expectFailure(.permissionDenied) { try await h.orders.getOrder(get, options: try await h.host.service("reviews")) }
      await expectFailure(.unauthenticated) { try await h.orders.getOrder(get) }
      // Lists.
      #expect(try await h.orders.listOrders(.init(), options: customer).orders.map(\.orderId) == [order.orderId])
      #expect(try await h.orders.listOrders(.init(), options: stranger).orders.isEmpty)
      let sellerList = try await h.orders.listOrders(.init(), options: h.seller).orders
      #expect(sellerList.map(\.orderId) == [order.orderId] && sellerList.first?.lines.count == 1)
      await expectFailure(.permissionDenied) {
        try await h.orders.listOrders(.with { $0.customerId = customerID }, options: stranger)
      }
      #expect(try await h.orders.listOrders(.with { $0.customerId = customerID }, options: h.admin).orders.count == 1)
      #expect(
        try await h.orders.listOrders(.with { $0.customerId = customerID }, options: try await h.host.service("reviews")).orders.count == 1)
      // Cancelling: strangers do not see it; a seller with only some lines may not; a customer may
      // not give a seller's reason.
      let cancel = CommerceV1.CancelOrderRequest.with {
        $0.orderId = order.orderId
        $0.reason = .customerRequested
      }
      await expectFailure(.notFound) { try await h.orders.cancelOrder(cancel, options: stranger) }
      await expectFailure(.permissionDenied) { try await h.orders.cancelOrder(cancel, options: h.seller) }
      var outOfStock = cancel
      outOfStock.reason = .outOfStock
      await expectFailure(.permissionDenied) { try await h.orders.cancelOrder(outOfStock, options: customer) }
      // Events: services only.
      await expectFailure(.permissionDenied) {
        try await h.orders.applyOrderEvent(
          .with {
            $0.orderId = order.orderId
            $0.eventId = "e"
            $0.kind = .paymentAuthorized
          }, options: customer)
      }
      await expectFailure(.notFound) { try await h.paymentEvent(UUID().uuidString.lowercased(), authorized: true) }
      // Each kind from the service that owns it.
      await expectFailure(.permissionDenied) {
        try await event(h, order.orderId, .paymentAuthorized, subject: "pay", as: "shipping")
      }
    }
  }

  @Test("shipment events move CONFIRMED to PACKED; invalid events fail and are not recorded; duplicates change nothing")
  func fulfilmentEvents() async throws {
    try await OrderHarness.run { h in
      let product = try await h.product(stock: 10)
      let (order, customer) = try await confirmedOrder(h, product, quantity: 2)
      let line = order.lines[0].orderLineId
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await event(h, order.orderId, .shipmentDelivered, subject: "s1")
      }
      let partly = try await event(h, order.orderId, .shipmentCreated, subject: "s1", lines: [(line, 1)], id: "created-1")
      #expect(partly.order?.status == .confirmed && partly.order?.shipmentIds == ["s1"])
      let again = try await event(h, order.orderId, .shipmentCreated, subject: "s1", lines: [(line, 1)], id: "created-1")
      #expect(again.duplicate && again.order?.version == partly.order?.version)
      await expectFailure(.invalidArgument) { try await event(h, order.orderId, .shipmentCreated, subject: "s2", lines: [(line, 2)]) }
      let packed = try await event(h, order.orderId, .shipmentCreated, subject: "s2", lines: [(line, 1)])
      #expect(packed.order?.status == .packed && packed.order?.statusHistory.last?.status == .packed)
      // A customer may no longer cancel a packed order; an admin may.
      let cancel = CommerceV1.CancelOrderRequest.with {
        $0.orderId = order.orderId
        $0.reason = .customerRequested
      }
      await expectFailure(.failedPrecondition, reason: "INVALID_STATE_TRANSITION") {
        try await h.orders.cancelOrder(cancel, options: customer)
      }
    }
  }

  @Test("a customer cancels an order awaiting payment: the reservation is released; cancelling again changes nothing")
  func cancelAwaitingPayment() async throws {
    try await OrderHarness.run { h in
      let product = try await h.product(stock: 4)
      let (_, customer) = try await h.customer()
      let order = try await h.orders.checkout(OrderHarness.request([(product, 3)]), options: customer).order!
      #expect(try await h.stock(product) == [4, 3])
      let cancel = CommerceV1.CancelOrderRequest.with {
        $0.orderId = order.orderId
        $0.reason = .customerRequested
        $0.reasonText = "changed my mind"
      }
      let cancelled = try await h.orders.cancelOrder(cancel, options: customer).order!
      #expect(cancelled.status == .cancelled && cancelled.cancellation?.reasonText == "changed my mind")
      #expect(try await h.stock(product) == [4, 0])
      let again = try await h.orders.cancelOrder(cancel, options: customer).order!
      #expect(again.version == cancelled.version)
    }
  }

  @Test("an admin cancels a CONFIRMED order: committed units are restocked")
  func cancelConfirmedRestocks() async throws {
    try await OrderHarness.run { h in
      let product = try await h.product(stock: 4)
      let (order, _) = try await confirmedOrder(h, product, quantity: 3)
      #expect(try await h.stock(product) == [1, 0])
      // No payment to void: the order's payment id names none PaymentService knows, so the
      // test orders' payment is cleared first (PaymentService is not hosted here).
      try await h.pool.query("UPDATE orders.orders SET payment_id = NULL WHERE id = $1", [UUID(id: order.orderId)!])
      let cancelled = try await h.orders.cancelOrder(
        .with {
          $0.orderId = order.orderId
          $0.reason = .fraudSuspected
        }, options: h.admin
      ).order!
      #expect(cancelled.status == .cancelled)
      #expect(try await h.stock(product) == [4, 0])
    }
  }

  @Test("WatchOrder sends the current order, then every change, ends after a final status, and resumes after a version")
  func watch() async throws {
    try await OrderHarness.run { h in
      let product = try await h.product(stock: 5)
      let (_, customer) = try await h.customer()
      let order = try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customer).order!
      let seen = try await h.orders.watchOrder(.with { $0.orderId = order.orderId }, options: customer) { stream in
        var statuses: [(CommerceV1.OrderStatus, CommerceV1.OrderStatus)] = []
        for try await message in stream {
          statuses.append((message.previousStatus, message.order!.status))
          if statuses.count == 1 { _ = try await h.paymentEvent(order.orderId, authorized: false) }
        }
        return statuses
      }
      #expect(seen.map(\.1) == [.awaitingPayment, .failed])
      #expect(seen.first?.0 == .unspecified && seen.last?.0 == .awaitingPayment)
      // Resuming after the last version seen: nothing more, the stream ends (final status).
      let final = try await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: customer).order!
      let resumed = try await h.orders.watchOrder(
        .with {
          $0.orderId = order.orderId
          $0.afterVersion = final.version
        }, options: customer
      ) { stream in try await stream.reduce(0) { count, _ in count + 1 } }
      #expect(resumed == 0)
      // Resuming from an older version: the latest state at once.
      let fromOld = try await h.orders.watchOrder(
        .with {
          $0.orderId = order.orderId
          $0.afterVersion = 1
        }, options: customer
      ) { stream in try await stream.reduce(into: [CommerceV1.OrderStatus]()) { $0.append($1.order!.status) } }
      #expect(fromOld == [.failed])
      let (_, stranger) = try await h.customer()
      await expectFailure(.notFound) {
        try await h.orders.watchOrder(.with { $0.orderId = order.orderId }, options: stranger) { stream in
          try await stream.reduce(0) { count, _ in count + 1 }
        }
      }
    }
  }

  @Test("a saga waiting for its payment gives up after the timeout: the reservation is released and the order FAILED")
  func giveUp() async throws {
    try await OrderHarness.run { h in
      let product = try await h.product(stock: 3)
      let (_, customer) = try await h.customer()
      let request = OrderHarness.request([(product, 2)])
      let order = try await h.orders.checkout(request, options: customer).order!
      #expect(order.status == .awaitingPayment)
      // Thirty minutes pass: the saga's deadline and its next payment check are due.
      try await h.pool.query(
        "UPDATE orders.orders SET saga_deadline = now(), saga_lease_until = now() WHERE id = $1", [UUID(id: order.orderId)!])
      let failed = await eventually {
        (try? await h.orders.getOrder(.with { $0.orderId = order.orderId }, options: customer).order?.status) == .failed
      }
      #expect(failed)
      #expect(try await h.stock(product) == [3, 0])
      // The retry answers the failure.
      let replay = await expectFailure(.failedPrecondition, reason: "PAYMENT_DECLINED") { try await h.orders.checkout(request, options: customer) }
      #expect(replay?.commerceMetadata["orderId"] == order.orderId)
    }
  }

  @Test("a saga left PENDING by a stopped server is resumed by a new server on the same database")
  func recovery() async throws {
    let url = try await TestApp.newDatabase("orders")
    var configuration = OrderHarness.testConfiguration()
    configuration.sagaLease = 1
    let (orderID, product) = try await OrderHarness.run(configuration: configuration, databaseURL: url) { h in
      let product = try await h.product(stock: 5)
      let (customerID, _) = try await h.customer()
      // What a server that stopped right after creating the order leaves: PENDING, its lease
      // held by an owner that is gone.
      let now = Date()
      let id = UUID()
      let order = OrderRecord(
        id: id, customerID: customerID, checkoutKey: "k", requestHash: [1], status: .pending, version: 1, currency: "USD",
        subtotal: 1999, shipping: 499, tax: 200, total: 2698, shippingSpeed: .standard, shippingAddress: OrderHarness.address,
        billingAddress: OrderHarness.address, createdAt: now, updatedAt: now, sagaState: .running, sagaOwner: UUID(),
        sagaLeaseUntil: now.addingTimeInterval(3600), sagaDeadline: now.addingTimeInterval(1800), fromCart: false,
        lines: [
          OrderLineRecord(index: 0, id: UUID(), productID: product, sellerID: h.sellerID, title: "Headphones", imageURL: "", unitPrice: 1999, quantity: 1, tax: 160)
        ], history: [HistoryEntry(status: .pending, at: now, note: "checkout started")])
      #expect(try await h.service.store.insertOrder(order))
      return (id, product)
    }
    // The lease lapses; the next server's worker takes the saga over.
    try await OrderHarness.run(configuration: configuration, databaseURL: url) { h in
      try await h.pool.query("UPDATE orders.orders SET saga_lease_until = now() - interval '1 second' WHERE id = $1", [orderID])
      let resumed = await eventually {
        (try? await h.service.store.order(orderID))?.status == .awaitingPayment
      }
      #expect(resumed)
      #expect(try await h.stock(product) == [5, 1])
      #expect(try await h.reservations(order: orderID.lowercasedString) == 1)
    }
  }

  @Test("ListOrders pages newest first without repeats, filters by status and time, and refuses foreign page tokens")
  func listPages() async throws {
    try await OrderHarness.run { h in
      let product = try await h.product(stock: 1)
      let (_, customer) = try await h.customer()
      var placed: [String] = []
      for index in 0..<5 {
        // The first takes the only unit: the rest fail (INSUFFICIENT_STOCK), and are orders too.
        do {
          placed.append(try await h.orders.checkout(OrderHarness.request([(product, 1)]), options: customer).order!.orderId)
        } catch let error as RPCError {
          #expect(error.commerceReason == "INSUFFICIENT_STOCK", "\(index)")
          placed.append(error.commerceMetadata["orderId"]!)
        }
      }
      var seen: [String] = []
      var token = ""
      repeat {
        let page = try await h.orders.listOrders(
          .with {
            $0.pageSize = 2
            $0.pageToken = token
          }, options: customer)
        #expect(page.orders.count <= 2)
        seen += page.orders.map(\.orderId)
        token = page.nextPageToken
      } while !token.isEmpty
      #expect(seen == placed.reversed())
      let failed = try await h.orders.listOrders(.with { $0.statuses = [.failed] }, options: customer).orders
      #expect(failed.count == 4 && failed.allSatisfy { $0.status == .failed })
      let later = try await h.orders.listOrders(.with { $0.minCreateTime = .init(Date().addingTimeInterval(60)) }, options: customer)
      #expect(later.orders.isEmpty)
      let first = try await h.orders.listOrders(.with { $0.pageSize = 2 }, options: customer)
      await expectFailure(.invalidArgument, reason: "INVALID_PAGE_TOKEN") {
        try await h.orders.listOrders(
          .with {
            $0.pageSize = 2
            $0.pageToken = first.nextPageToken
            $0.statuses = [.failed]
          }, options: customer)
      }
      await expectFailure(.invalidArgument) { try await h.orders.listOrders(.with { $0.pageSize = -1 }, options: customer) }
    }
  }

  @Test("the state machine allows exactly OrderStatus's transitions")
  func stateMachine() {
    #expect(OrderTransitions.isAllowed(.pending, to: .awaitingPayment))
    #expect(OrderTransitions.isAllowed(.awaitingPayment, to: .confirmed))
    #expect(!OrderTransitions.isAllowed(.pending, to: .confirmed))
    #expect(!OrderTransitions.isAllowed(.shipped, to: .cancelled))
    #expect(!OrderTransitions.isAllowed(.failed, to: .cancelled))
    #expect(OrderTransitions.isAllowed(.partiallyRefunded, to: .returnRequested))
    for final in [CommerceV1.OrderStatus.failed, .cancelled, .refunded] {
      #expect(CommerceV1.OrderStatus.allCases.allSatisfy { !OrderTransitions.isAllowed(final, to: $0) })
    }
    #expect(Pricing.shipping(.standard, subtotal: 4999) == 499 && Pricing.shipping(.standard, subtotal: 5000) == 0)
    #expect(Pricing.tax(499) == 40 && Pricing.tax(1999) == 160 && Pricing.tax(6) == 0)
  }
}
