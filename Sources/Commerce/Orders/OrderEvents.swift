import CommerceAPI
import CommerceKit
import Foundation
import RPC

/// How fulfilment and return events (ApplyOrderEvent) move an order, as pure rules over the
/// record: shipments pack, ship and deliver it; returns and refunds follow delivery. Payment
/// events continue the saga instead (``CheckoutSaga``).
enum OrderEvents {
  /// How long after delivery returns may be requested.
  static let returnWindow: TimeInterval = 30 * 24 * 3600

  /// The service identities that report events of `kind`.
  static func reporters(of kind: CommerceV1.OrderEventKind) -> Set<String> {
    switch kind {
    case .paymentAuthorized, .paymentFailed: ["payments"]
    case .shipmentCreated, .shipmentShipped, .shipmentDelivered, .shipmentCancelled: ["shipping"]
    case .returnRequested, .returnClosed: ["support"]
    case .refundIssued: ["support", "payments"]
    case .unspecified, .unrecognized: []
    }
  }

  /// The status an event of `kind` needs the order in, and the one it may lead to (for the
  /// INVALID_STATE_TRANSITION error's "requested").
  static func accepted(_ kind: CommerceV1.OrderEventKind) -> (from: Set<CommerceV1.OrderStatus>, to: CommerceV1.OrderStatus) {
    switch kind {
    case .shipmentCreated: ([.confirmed], .packed)
    // A parcel may leave, and arrive, before another seller's lines are packed.
    case .shipmentShipped: ([.confirmed, .packed, .shipped], .shipped)
    case .shipmentDelivered: ([.confirmed, .packed, .shipped], .delivered)
    // CANCELLED too: CancelOrder cancels the shipments, whose events arrive afterwards.
    case .shipmentCancelled: ([.confirmed, .packed, .cancelled], .confirmed)
    case .returnRequested: ([.delivered, .partiallyRefunded, .returnRequested], .returnRequested)
    case .returnClosed: ([.returnRequested], .delivered)
    case .refundIssued: ([.returnRequested, .partiallyRefunded], .refunded)
    case .paymentAuthorized: ([.awaitingPayment], .confirmed)
    case .paymentFailed: ([.awaitingPayment], .failed)
    case .unspecified, .unrecognized: ([], .unspecified)
    }
  }

  /// Checks, before any peer is called, that the order's status accepts the event.
  static func precheck(_ request: CommerceV1.ApplyOrderEventRequest, order: OrderRecord, now: Date) throws(CommerceError) {
    let rule = accepted(request.kind)
    guard rule.from.contains(order.status) else {
      throw CommerceError.invalidTransition(from: order.status.storedName, to: rule.to.storedName)
    }
    // The window is judged when the return was requested (the reporter's occur_time, never later
    // than now): a return asked for just before the window closed, whose event the outbox relay
    // delivers just after, is still in time.
    let requestedAt = min(request.occurTime?.date ?? now, now)
    if request.kind == .returnRequested, let closes = order.returnWindowClosesAt, requestedAt >= closes {
      throw CommerceError(
        .failedPrecondition, .returnWindowClosed, "the return window closed",
        metadata: ["closeTime": ISO8601DateFormatter().string(from: closes)])
    }
  }

  /// Applies the event to the order (status, shipments, returns, line quantities, refunds).
  static func apply(_ request: CommerceV1.ApplyOrderEventRequest, to order: inout OrderRecord, now: Date) throws(CommerceError) {
    try precheck(request, order: order, now: now)
    let subject = request.subjectId
    switch request.kind {
    case .shipmentCreated:
      guard !subject.isEmpty else { throw CommerceError.invalidArgument(field: "subject_id", "names the shipment") }
      try addUnits(request.lines, to: &order, \.packedQuantity)
      if !order.shipmentIDs.contains(subject) { order.shipmentIDs.append(subject) }
      if order.lines.allSatisfy({ $0.packedQuantity == $0.quantity }) {
        try order.move(to: .packed, at: now, note: "every line is in a shipment")
      }
    case .shipmentShipped:
      guard order.shipmentIDs.contains(subject) else { throw CommerceError.invalidArgument(field: "subject_id", "is not a shipment of the order") }
      if request.lines.isEmpty {
        // No lines given: the shipment's units are every packed unit not yet shipped.
        for index in order.lines.indices { order.lines[index].shippedQuantity = order.lines[index].packedQuantity }
      } else {
        try addUnits(request.lines, to: &order, \.shippedQuantity)
      }
      order.paymentCaptured = true
      if order.paymentID != nil { order.paymentStatus = .captured }
      if !order.shippedShipmentIDs.contains(subject) { order.shippedShipmentIDs.append(subject) }
      if order.status == .packed, Set(order.shippedShipmentIDs) == Set(order.shipmentIDs) {
        try order.move(to: .shipped, at: now, note: "shipment \(subject) handed to the carrier")
      }
    case .shipmentDelivered:
      // Only a shipment the carrier had can be delivered.
      guard order.shippedShipmentIDs.contains(subject) else {
        throw CommerceError.invalidTransition(from: order.status.storedName, to: CommerceV1.OrderStatus.delivered.storedName)
      }
      guard order.shipmentIDs.contains(subject) else { throw CommerceError.invalidArgument(field: "subject_id", "is not a shipment of the order") }
      if !order.deliveredShipmentIDs.contains(subject) { order.deliveredShipmentIDs.append(subject) }
      if order.status == .shipped, Set(order.deliveredShipmentIDs) == Set(order.shipmentIDs) {
        try order.move(to: .delivered, at: now, note: "shipment \(subject) delivered")
        order.deliveredAt = now
        order.returnWindowClosesAt = now.addingTimeInterval(returnWindow)
      }
    case .shipmentCancelled:
      guard order.shipmentIDs.contains(subject) else { return }
      guard !order.shippedShipmentIDs.contains(subject) else {
        throw CommerceError.invalidTransition(from: order.status.storedName, to: CommerceV1.OrderStatus.confirmed.storedName)
      }
      try removeUnits(request.lines, from: &order, \.packedQuantity)
      order.shipmentIDs.removeAll { $0 == subject }
      order.deliveredShipmentIDs.removeAll { $0 == subject }
      if order.status == .packed { try order.move(to: .confirmed, at: now, note: "shipment \(subject) cancelled") }
    case .returnRequested:
      guard !subject.isEmpty else { throw CommerceError.invalidArgument(field: "subject_id", "names the return") }
      if !order.returnIDs.contains(subject) { order.returnIDs.append(subject) }
      if !order.openReturnIDs.contains(subject) { order.openReturnIDs.append(subject) }
      if order.status != .returnRequested { try order.move(to: .returnRequested, at: now, note: "return \(subject) requested") }
    case .returnClosed:
      order.openReturnIDs.removeAll { $0 == subject }
      if order.openReturnIDs.isEmpty {
        try order.move(to: order.refunded > 0 ? .partiallyRefunded : .delivered, at: now, note: "return \(subject) closed")
      }
    case .refundIssued:
      let amount = request.amount ?? .init()
      guard amount.currency == order.currency else {
        throw CommerceError(
          .invalidArgument, .currencyMismatch, "the refund is not in the order's currency",
          metadata: ["expected": order.currency, "actual": amount.currency])
      }
      guard amount.amountMinor <= order.total - order.refunded else {
        throw CommerceError(
          .failedPrecondition, .amountExceedsRemaining, "the refund exceeds what was not refunded yet",
          metadata: ["remainingMinor": String(order.total - order.refunded), "currency": order.currency])
      }
      try addUnits(request.lines, to: &order, \.refundedQuantity)
      order.refunded += amount.amountMinor
      order.openReturnIDs.removeAll { $0 == subject }
      let everything = order.refunded == order.total || order.lines.allSatisfy { $0.refundedQuantity == $0.quantity }
      if everything {
        try order.move(to: .refunded, at: now, note: "refund for \(subject)")
      } else if order.openReturnIDs.isEmpty, order.status != .partiallyRefunded {
        try order.move(to: .partiallyRefunded, at: now, note: "refund for \(subject)")
      }
    case .paymentAuthorized, .paymentFailed, .unspecified, .unrecognized:
      break
    }
  }

  /// Takes each event line's units off a line quantity, never below zero.
  private static func removeUnits(
    _ lines: [CommerceV1.OrderEventLine], from order: inout OrderRecord, _ path: WritableKeyPath<OrderLineRecord, Int32>
  ) throws(CommerceError) {
    for (index, line) in lines.enumerated() {
      guard let at = order.lines.firstIndex(where: { $0.id.lowercasedString == line.orderLineId }) else {
        throw CommerceError.invalidArgument(field: "lines[\(index)].order_line_id", "is not a line of the order")
      }
      order.lines[at][keyPath: path] = max(0, order.lines[at][keyPath: path] - line.quantity)
    }
  }

  /// Adds each event line's units to a line quantity, never beyond the line's quantity.
  private static func addUnits(
    _ lines: [CommerceV1.OrderEventLine], to order: inout OrderRecord, _ path: WritableKeyPath<OrderLineRecord, Int32>
  ) throws(CommerceError) {
    for (index, line) in lines.enumerated() {
      guard let at = order.lines.firstIndex(where: { $0.id.lowercasedString == line.orderLineId }) else {
        throw CommerceError.invalidArgument(field: "lines[\(index)].order_line_id", "is not a line of the order")
      }
      let total = order.lines[at][keyPath: path] + line.quantity
      guard total <= order.lines[at].quantity else {
        throw CommerceError.invalidArgument(field: "lines[\(index)].quantity", "exceeds the line's remaining units")
      }
      order.lines[at][keyPath: path] = total
    }
  }
}
