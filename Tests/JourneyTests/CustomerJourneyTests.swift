import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import RPC
import TestSupport
import Testing

/// A customer's whole journey through every service, as `emporium serve` hosts them
/// (``ServiceCatalog/all`` over real sockets on 127.0.0.1, an embedded PostgreSQL): register, log
/// in, search, add to the cart, check out from the cart, the seller ships, the carrier's delivery
/// partner reports the parcel picked up and delivered, the customer reviews the product, sends one
/// unit back (the seller approves the return and receives it resalable: it is restocked and
/// refunded) — and the customer's notification stream tells the story as it happens, every
/// notification once, in sequence.
@Suite("Customer journey")
struct CustomerJourneyTests {
  static let carrier = "acme-express"

  @Test("register, search, buy from the cart, receive, review and return: every step reaches the customer's notification stream in sequence")
  func registerToReview() async throws {
    let partnerID = "courier-" + UUID().uuidString.prefix(8).lowercased()
    // The carrier and the courier who works for it, as an operator configures them.
    let settings = ["shipping": ["carriers": "\(Self.carrier):\(partnerID),parcel-post"]]
    try await TestApp.run("journey", services: ServiceCatalog.all, settings: settings) { host in
      let auth = CommerceV1.AuthService.Client(host.connection)
      let catalog = CommerceV1.CatalogService.Client(host.connection)
      let inventory = CommerceV1.InventoryService.Client(host.connection)
      let cart = CommerceV1.CartService.Client(host.connection)
      let orders = CommerceV1.OrderService.Client(host.connection)
      let shipping = CommerceV1.ShippingService.Client(host.connection)
      let reviews = CommerceV1.ReviewService.Client(host.connection)
      let support = CommerceV1.SupportService.Client(host.connection)
      let payments = CommerceV1.PaymentService.Client(host.connection)
      let notifications = CommerceV1.NotificationService.Client(host.connection)

      // The shop: a category and a warehouse (an admin), a seller's product with stock.
      let admin = try await host.user(roles: [.admin])
      let (sellerID, seller) = try await host.seller("Aurora Audio")
      let courier = try await host.user(partnerID, roles: [.deliveryPartner])
      let category = try await catalog.createCategory(
        .with {
          $0.name = "Headphones"
          $0.slug = "headphones"
        }, options: admin
      ).category!
      let warehouse = try await inventory.createWarehouse(
        .with {
          $0.code = "OAK1"
          $0.name = "Oakland"
          $0.regionCode = "US"
        }, options: admin
      ).warehouse!
      let product = try await host.product(
        "Aurora wireless headphones", price: 12_900, category: category.categoryId, warehouse: warehouse.warehouseId, stock: 10,
        seller: seller)

      // Register, then log in: the session's access token is the customer's from here on.
      let email = "grace-\(UUID().uuidString.prefix(8).lowercased())@example.com"
      let registered = try await auth.registerUser(
        .with {
          $0.email = email
          $0.password = "correct horse battery"
          $0.displayName = "Grace"
        }
      ).user!
      let login = try await auth.login(
        .with {
          $0.email = email.uppercased()
          $0.password = "correct horse battery"
          $0.sessionLabel = "journey"
        })
      #expect(login.user?.userId == registered.userId)
      let customerID = registered.userId
      let customer = TestApp.bearer(login.tokens!.accessToken)
      var streamOptions = customer
      streamOptions.timeout = .seconds(300)

      var order = CommerceV1.Order()
      var shipment = CommerceV1.Shipment()
      var review = CommerceV1.Review()
      var returned = CommerceV1.ReturnAuthorization()
      // The customer's notification stream, from the first sequence; the journey runs once it
      // is live, and the review is written once the stream said the order was delivered.
      let received = try await notifications.subscribe(.with { $0.resumeFrom = .afterSequence(0) }, options: streamOptions) { stream in
        var received: [CommerceV1.Notification] = []
        for try await message in stream {
          if message.caughtUp {
            #expect(received.isEmpty, "a new customer has no notifications")
            // Search (the catalog's index follows a new product shortly after its creation).
            var found: CommerceV1.ProductSummary?
            let indexed = try await eventually {
              found = try await catalog.searchProducts(.with { $0.query = "wireless headphone" }, options: customer).products.first
              return found?.productId == product.productId
            }
            #expect(indexed && found?.sellerId == sellerID && found?.price?.amountMinor == 12_900)

            // Into the cart, and out of it at checkout.
            let added = try await cart.addCartItem(
              .with {
                $0.productId = product.productId
                $0.quantity = 2
                $0.idempotencyKey = UUID().uuidString
              }, options: customer
            ).cart!
            #expect(added.items.map(\.quantity) == [2])
            order = try await orders.checkout(
              .with {
                $0.itemsSource = .cart(.init())
                $0.shippingAddress = .with {
                  $0.recipientName = "Grace Hopper"
                  $0.addressLines = ["1 Navy Way"]
                  $0.locality = "Arlington"
                  $0.administrativeArea = "VA"
                  $0.postalCode = "22202"
                  $0.regionCode = "US"
                }
                $0.paymentMethod = TestApp.card()
                $0.idempotencyKey = UUID().uuidString
              }, options: customer
            ).order!
            #expect(order.status == .confirmed && order.customerId == customerID)
            #expect(order.lines.map(\.productId) == [product.productId] && order.lines.map(\.quantity) == [2])
            #expect(try await cart.getCart(.init(), options: customer).cart?.items.isEmpty == true)

            // The seller ships; the carrier's courier picks the parcel up and delivers it.
            shipment = try await shipping.createShipment(
              .with {
                $0.orderId = order.orderId
                $0.carrierId = Self.carrier
                $0.warehouseId = warehouse.warehouseId
                $0.idempotencyKey = UUID().uuidString
              }, options: seller
            ).shipment!
            #expect(shipment.status == .labelCreated && shipment.lines.map(\.quantity) == [2])
            for (status, note) in [(CommerceV1.ShipmentStatus.pickedUp, "collected at Oakland"), (.delivered, "handed to resident")] {
              let reported = try await shipping.updateShipmentStatus(
                .with {
                  $0.shipmentId = shipment.shipmentId
                  $0.status = status
                  $0.occurTime = .init(Date())
                  $0.note = note
                  $0.partnerEventId = UUID().uuidString
                }, options: courier)
              #expect(reported.shipment?.status == status && reported.event?.reporterId == partnerID)
            }
            continue
          }
          guard let notification = message.notification else { continue }
          received.append(notification)
          if case .orderStatusChanged(let change)? = notification.payload?.event, change.status == .delivered {
            // The parcel arrived: the customer reviews what they bought.
            review = try await reviews.createReview(
              .with {
                $0.productId = product.productId
                $0.rating = 5
                $0.title = "Quiet and clear"
                $0.body = "Battery lasts all week."
                $0.idempotencyKey = UUID().uuidString
              }, options: customer
            ).review!
            // One of the two pairs goes back.
            returned = try await support.requestReturn(
              .with {
                $0.orderId = order.orderId
                $0.lines = [.with { $0.orderLineId = order.lines[0].orderLineId; $0.quantity = 1; $0.reason = .noLongerNeeded }]
                $0.idempotencyKey = UUID().uuidString
              }, options: customer
            ).returnAuthorization!
            #expect(returned.status == .requested && returned.sellerId == sellerID)
          }
          if case .returnUpdated(let update)? = notification.payload?.event, update.returnId == returned.returnId {
            switch update.status {
            case .requested:
              // The seller accepts it; the customer prints the label and sends the pair.
              let approved = try await support.approveReturn(.with { $0.returnId = returned.returnId }, options: seller).returnAuthorization!
              #expect(approved.status == .approved && !approved.returnLabelUrl.isEmpty)
            case .approved:
              // It arrives at the warehouse as good as new.
              let arrived = try await support.receiveReturn(
                .with {
                  $0.returnId = returned.returnId
                  $0.warehouseId = warehouse.warehouseId
                  $0.lines = [.with { $0.orderLineId = order.lines[0].orderLineId; $0.receivedQuantity = 1; $0.condition = .resalable }]
                }, options: seller
              ).returnAuthorization!
              #expect(arrived.status == .received || arrived.status == .refunded)
            default: break
            }
          }
          if Self.isComplete(received) { break }
        }
        return received
      }

      // Every notification arrived once, in sequence: 1, 2, 3, ... without a gap.
      #expect(received.map(\.sequence) == Array(1...Int64(received.count)))
      #expect(Set(received.map(\.notificationId)).count == received.count)
      #expect(received.allSatisfy { $0.recipientId == customerID && !$0.title.isEmpty })
      // The order's story, the payment's and the parcel's, each in the order it happened.
      let orderNews = received.compactMap { n -> CommerceV1.OrderStatusChanged? in
        if case .orderStatusChanged(let change)? = n.payload?.event { change } else { nil }
      }
      #expect(orderNews.allSatisfy { $0.orderId == order.orderId })
      #expect(orderNews.map(\.status) == [.awaitingPayment, .confirmed, .packed, .shipped, .delivered, .returnRequested, .partiallyRefunded])
      #expect(orderNews.map(\.previousStatus) == [.pending, .awaitingPayment, .confirmed, .packed, .shipped, .delivered, .returnRequested])
      let paymentNews = received.compactMap { n -> CommerceV1.PaymentResult? in
        if case .paymentResult(let result)? = n.payload?.event { result } else { nil }
      }
      // The refund: the pair's price and its share of the line's tax.
      let line = order.lines[0]
      let refund = line.unitPrice!.amountMinor + line.tax!.amountMinor / Int64(line.quantity)
      #expect(paymentNews.map(\.status) == [.authorized, .captured, .partiallyRefunded])
      #expect(paymentNews.prefix(2).allSatisfy { $0.orderId == order.orderId && $0.amount?.amountMinor == order.totals?.total?.amountMinor })
      #expect(paymentNews.last?.amount?.amountMinor == refund)
      let returnNews = received.compactMap { n -> CommerceV1.ReturnUpdated? in
        if case .returnUpdated(let update)? = n.payload?.event { update } else { nil }
      }
      #expect(returnNews.map(\.status) == [.requested, .approved, .received, .refunded])
      #expect(returnNews.allSatisfy { $0.returnId == returned.returnId && $0.orderId == order.orderId })
      #expect(returnNews.last?.refundTotal?.amountMinor == refund)
      let parcelNews = received.compactMap { n -> CommerceV1.ShipmentUpdated? in
        if case .shipmentUpdated(let update)? = n.payload?.event { update } else { nil }
      }
      #expect(parcelNews.map(\.status) == [.labelCreated, .pickedUp, .delivered])
      #expect(parcelNews.map(\.note) == ["", "collected at Oakland", "handed to resident"])
      #expect(parcelNews.allSatisfy {
        $0.shipmentId == shipment.shipmentId && $0.orderId == order.orderId && $0.trackingNumber == shipment.trackingNumber
      })
      // The inbox holds exactly what the stream delivered.
      let inbox = try await notifications.listNotifications(.with { $0.pageSize = 200 }, options: customer)
      #expect(inbox.notifications.reversed().map(\.notificationId) == received.map(\.notificationId))
      #expect(inbox.unreadCount == Int64(received.count))

      // The review is the verified purchase's, and the shop shows it.
      #expect(review.status == .published && review.authorId == customerID && review.orderId == order.orderId)
      #expect(review.authorDisplayName == "Grace")
      let listed = try await reviews.listProductReviews(.with { $0.productId = product.productId }).reviews
      #expect(listed.map(\.reviewId) == [review.reviewId])
      let rated = try await eventually {
        let summary = try await catalog.searchProducts(.with { $0.query = "aurora" }).products.first
        return summary?.ratingCount == 1 && summary?.ratingAverage == 5
      }
      #expect(rated, "search shows the product's new rating")
      let after = try await orders.getOrder(.with { $0.orderId = order.orderId }, options: customer).order!
      #expect(after.status == .partiallyRefunded && after.shipmentIds == [shipment.shipmentId] && after.returnIds == [returned.returnId])
      #expect(after.totals?.refunded?.amountMinor == refund && after.lines[0].refundedQuantity == 1)
      // The payment shows the refund; the returned pair is back on the shelf.
      let payment = try await payments.getPayment(.with { $0.paymentId = order.paymentId }, options: customer).payment!
      #expect(payment.status == .partiallyRefunded && payment.refundedAmount?.amountMinor == refund)
      #expect(payment.refunds.map(\.returnId) == [returned.returnId] && payment.refunds.map(\.status) == [.succeeded])
      let stock = try await inventory.getStock(.with { $0.productIds = [product.productId] }, options: seller)
      #expect(stock.stocks.first?.totalOnHand == 9, "10 stocked, 2 sold, 1 returned resalable")
      let refunded = try await support.getReturn(.with { $0.returnId = returned.returnId }, options: customer).returnAuthorization!
      #expect(refunded.status == .refunded && refunded.refundId == payment.refunds.first?.refundId)
    }
  }

  /// Whether the stream has told the whole journey: the order partially refunded, its payment
  /// captured and partially refunded, the parcel delivered, the return refunded (each service's
  /// last news of it).
  static func isComplete(_ received: [CommerceV1.Notification]) -> Bool {
    var orderDelivered = false
    var paymentCaptured = false
    var parcelDelivered = false
    var returnRefunded = false
    for notification in received {
      switch notification.payload?.event {
      case .orderStatusChanged(let change)?: orderDelivered = orderDelivered || change.status == .partiallyRefunded
      case .paymentResult(let result)?: paymentCaptured = paymentCaptured || result.status == .partiallyRefunded
      case .shipmentUpdated(let update)?: parcelDelivered = parcelDelivered || update.status == .delivered
      case .returnUpdated(let update)?: returnRefunded = returnRefunded || update.status == .refunded
      default: break
      }
    }
    return orderDelivered && paymentCaptured && parcelDelivered && returnRefunded
  }
}
