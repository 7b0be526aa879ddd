import CommerceAPI
import CommerceKit
import Foundation
import Messages
import RPC
import Testing

@testable import CommerceOrders

/// The later states (shipping, delivery, returns, refunds) as pure rules over an order record.
@Suite("OrderEvents rules")
struct OrderEventsTests {
  let now = Date(timeIntervalSince1970: 1_800_000_000)

  func order(_ status: CommerceV1.OrderStatus, quantities: [Int32] = [2, 1]) -> OrderRecord {
    let lines = quantities.enumerated().map { index, quantity in
      OrderLineRecord(
        index: Int32(index), id: UUID(), productID: "p\(index)", sellerID: "s", title: "T", imageURL: "", unitPrice: 1000,
        quantity: quantity, tax: Pricing.tax(1000 * Int64(quantity)))
    }
    let subtotal = lines.reduce(0) { $0 + $1.lineTotal }
    return OrderRecord(
      id: UUID(), customerID: "c", checkoutKey: "k", requestHash: [], status: status, version: 1, currency: "USD", subtotal: subtotal,
      shipping: 0, tax: 0, total: subtotal, shippingSpeed: .standard, shippingAddress: .init(), billingAddress: .init(),
      paymentID: "pay", reservationID: "r", createdAt: now, updatedAt: now, sagaState: .done, sagaDeadline: now, fromCart: false,
      lines: lines)
  }

  func event(_ kind: CommerceV1.OrderEventKind, _ subject: String, _ lines: [(OrderLineRecord, Int32)] = [], amount: Int64? = nil)
    -> CommerceV1.ApplyOrderEventRequest
  {
    .with {
      $0.kind = kind
      $0.subjectId = subject
      $0.lines = lines.map { line, quantity in
        .with {
          $0.orderLineId = line.id.lowercasedString
          $0.quantity = quantity
        }
      }
      if let amount { $0.amount = .with { $0.amountMinor = amount; $0.currency = "USD" } }
    }
  }

  @Test("two shipments pack, ship (capturing at the first) and deliver an order")
  func shipping() throws {
    var o = order(.confirmed)
    try OrderEvents.apply(event(.shipmentCreated, "s1", [(o.lines[0], 2)]), to: &o, now: now)
    #expect(o.status == .confirmed)
    try OrderEvents.apply(event(.shipmentCreated, "s2", [(o.lines[1], 1)]), to: &o, now: now)
    #expect(o.status == .packed && o.shipmentIDs == ["s1", "s2"])
    try OrderEvents.apply(event(.shipmentShipped, "s1"), to: &o, now: now)
    #expect(o.status == .packed && o.paymentCaptured && o.paymentStatus == .captured)
    try OrderEvents.apply(event(.shipmentShipped, "s2"), to: &o, now: now)
    #expect(o.status == .shipped && o.lines.map(\.shippedQuantity) == [2, 1])
    try OrderEvents.apply(event(.shipmentDelivered, "s1"), to: &o, now: now)
    #expect(o.status == .shipped)
    try OrderEvents.apply(event(.shipmentDelivered, "s2"), to: &o, now: now)
    #expect(o.status == .delivered && o.deliveredAt == now && o.returnWindowClosesAt == now.addingTimeInterval(30 * 24 * 3600))
    #expect(o.history.map(\.status) == [.packed, .shipped, .delivered])
    #expect(throws: CommerceError.self) { try OrderEvents.apply(event(.shipmentShipped, "s3"), to: &o, now: now) }
  }

  @Test("a parcel may leave and arrive before another seller packs; a cancelled shipment unpacks its units")
  func partialShipping() throws {
    var o = order(.confirmed)
    try OrderEvents.apply(event(.shipmentCreated, "s1", [(o.lines[0], 2)]), to: &o, now: now)
    // s1 leaves while line 1 is not packed yet: captured, still CONFIRMED.
    try OrderEvents.apply(event(.shipmentShipped, "s1", [(o.lines[0], 2)]), to: &o, now: now)
    #expect(o.status == .confirmed && o.paymentCaptured && o.lines.map(\.shippedQuantity) == [2, 0])
    try OrderEvents.apply(event(.shipmentDelivered, "s1"), to: &o, now: now)
    #expect(o.status == .confirmed && o.deliveredShipmentIDs == ["s1"])
    // s2 is created, cancelled (PACKED -> CONFIRMED), created again as s3.
    try OrderEvents.apply(event(.shipmentCreated, "s2", [(o.lines[1], 1)]), to: &o, now: now)
    #expect(o.status == .packed)
    try OrderEvents.apply(event(.shipmentCancelled, "s2", [(o.lines[1], 1)]), to: &o, now: now)
    #expect(o.status == .confirmed && o.shipmentIDs == ["s1"] && o.lines.map(\.packedQuantity) == [2, 0])
    // A shipment handed over cannot be cancelled; delivering one never handed over is refused.
    #expect(throws: CommerceError.self) { try OrderEvents.apply(event(.shipmentCancelled, "s1", [(o.lines[0], 2)]), to: &o, now: now) }
    try OrderEvents.apply(event(.shipmentCreated, "s3", [(o.lines[1], 1)]), to: &o, now: now)
    #expect(throws: CommerceError.self) { try OrderEvents.apply(event(.shipmentDelivered, "s3"), to: &o, now: now) }
    try OrderEvents.apply(event(.shipmentShipped, "s3", [(o.lines[1], 1)]), to: &o, now: now)
    #expect(o.status == .shipped)
    try OrderEvents.apply(event(.shipmentDelivered, "s3"), to: &o, now: now)
    #expect(o.status == .delivered)
    #expect(o.history.map(\.status) == [.packed, .confirmed, .packed, .shipped, .delivered])
  }

  @Test("returns: requested, closed without refund back to DELIVERED; refunds to PARTIALLY_REFUNDED then REFUNDED")
  func returns() throws {
    var o = order(.delivered)
    o.returnWindowClosesAt = now.addingTimeInterval(3600)
    try OrderEvents.apply(event(.returnRequested, "r1"), to: &o, now: now)
    #expect(o.status == .returnRequested && o.openReturnIDs == ["r1"])
    try OrderEvents.apply(event(.returnClosed, "r1"), to: &o, now: now)
    #expect(o.status == .delivered && o.openReturnIDs.isEmpty && o.returnIDs == ["r1"])
    try OrderEvents.apply(event(.returnRequested, "r2"), to: &o, now: now)
    try OrderEvents.apply(event(.refundIssued, "r2", [(o.lines[1], 1)], amount: 1000), to: &o, now: now)
    #expect(o.status == .partiallyRefunded && o.refunded == 1000)
    // More than remains is refused and changes nothing.
    #expect(throws: CommerceError.self) {
      try OrderEvents.apply(event(.refundIssued, "r3", [], amount: 5000), to: &o, now: now)
    }
    try OrderEvents.apply(event(.returnRequested, "r3"), to: &o, now: now)
    try OrderEvents.apply(event(.refundIssued, "r3", [(o.lines[0], 2)], amount: 2000), to: &o, now: now)
    #expect(o.status == .refunded && o.status.isFinal)
    #expect(o.history.map(\.status) == [.returnRequested, .delivered, .returnRequested, .partiallyRefunded, .returnRequested, .refunded])
  }

  @Test("events the status cannot accept fail with INVALID_STATE_TRANSITION; returns after the window with RETURN_WINDOW_CLOSED")
  func refusals() {
    var o = order(.confirmed)
    do {
      try OrderEvents.apply(event(.shipmentDelivered, "s1"), to: &o, now: now)
      Issue.record("expected a failure")
    } catch {
      #expect(error.reason == .invalidStateTransition && error.metadata["status"] == "CONFIRMED")
    }
    var delivered = order(.delivered)
    delivered.returnWindowClosesAt = now
    do {
      try OrderEvents.apply(event(.returnRequested, "r1"), to: &delivered, now: now)
      Issue.record("expected a failure")
    } catch {
      #expect(error.reason == .returnWindowClosed)
    }
    // A return requested before the window closed whose event arrives after it is in time; one
    // requested after it is not.
    var requested = event(.returnRequested, "r2")
    requested.occurTime = .init(now.addingTimeInterval(-1))
    try? OrderEvents.apply(requested, to: &delivered, now: now)
    #expect(delivered.status == .returnRequested && delivered.openReturnIDs == ["r2"])
    var late = order(.delivered)
    late.returnWindowClosesAt = now.addingTimeInterval(-10)
    requested.occurTime = .init(now.addingTimeInterval(-5))
    #expect(throws: CommerceError.self) { try OrderEvents.apply(requested, to: &late, now: now) }
    #expect(OrderEvents.reporters(of: .shipmentShipped) == ["shipping"])
    #expect(OrderEvents.reporters(of: .paymentAuthorized) == ["payments"])
    #expect(OrderEvents.reporters(of: .refundIssued) == ["support", "payments"])
  }
}
