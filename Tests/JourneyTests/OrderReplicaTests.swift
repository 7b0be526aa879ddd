import CommerceAPI
import CommerceKit
import CommerceTestSupport
import EmporiumApp
import Foundation
import Messages
import RPC
import TestSupport
import Testing

/// OrderService with a streaming replica: ListOrders reads it under the read-your-writes rule.
@Suite("Orders on a read replica")
struct OrderReplicaTests {
  @Test("ListOrders reads the replica; a customer's own checkout and cancellation are in their next list while the replica replays nothing")
  func listsReadTheirWrites() async throws {
    try await ReplicaHarness.run("orders_replica", services: ServiceCatalog.all) { host, replica in
      let admin = try await host.user(roles: [.admin])
      let seller = try await host.seller()
      let product = try await host.product(
        "Desk Lamp", price: 4_000, category: try await host.category(admin: admin), warehouse: try await host.warehouse(admin: admin),
        stock: 10, seller: seller.options
      ).productId
      let customerID = UUID().uuidString.lowercased()
      let customer = try await host.user(customerID, roles: [.customer])
      let orders = CommerceV1.OrderService.Client(host.connection)
      try await ReplicaHarness.awaitCaughtUp(replica)

      // A list by a caller without recent writes runs on the replica.
      let before = replica.statistics
      #expect(try await orders.listOrders(.init(), options: customer).orders.isEmpty)
      #expect(replica.statistics.replicaReads > before.replicaReads)

      try await ReplicaHarness.setReplay(paused: true, on: replica)
      let order = try await orders.checkout(TestApp.checkout([(product, 1)]), options: customer).order!
      #expect(order.status == .confirmed)
      // The customer's next list has the order (the primary serves it); an admin, who wrote
      // nothing, reads the replica, which has not replayed the checkout.
      #expect(try await orders.listOrders(.init(), options: customer).orders.map(\.orderId) == [order.orderId])
      #expect(try await orders.listOrders(.with { $0.customerId = customerID }, options: admin).orders.isEmpty)
      _ = try await orders.cancelOrder(
        .with {
          $0.orderId = order.orderId
          $0.reason = .customerRequested
        }, options: customer)
      #expect(try await orders.listOrders(.init(), options: customer).orders.first?.status == .cancelled)

      // Once the replica has caught up, the customer reads it again and sees the same.
      try await ReplicaHarness.setReplay(paused: false, on: replica)
      try await ReplicaHarness.awaitCaughtUp(replica)
      let caughtUp = replica.statistics
      #expect(try await orders.listOrders(.init(), options: customer).orders.first?.status == .cancelled)
      #expect(replica.statistics.replicaReads > caughtUp.replicaReads)
      #expect(try await orders.listOrders(.with { $0.customerId = customerID }, options: admin).orders.count == 1)
    }
  }
}
