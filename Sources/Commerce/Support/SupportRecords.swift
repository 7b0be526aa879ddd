import CommerceAPI
import CommerceKit
import Foundation
import Messages

/// A ticket as stored.
struct TicketRecord: Sendable, Hashable {
  var id: UUID
  var customerID: String
  var subject: String
  var category: CommerceV1.TicketCategory
  var status: CommerceV1.TicketStatus
  var orderID: String
  var assigneeID: String
  var messageCount: Int32
  var publicMessageCount: Int32
  var lastMessageAt: Date
  var lastPublicMessageAt: Date
  var resolvedAt: Date?
  var createdAt: Date
  var updatedAt: Date
  var version: Int64
}

/// One message of a ticket's thread.
struct TicketMessageRecord: Sendable, Hashable {
  var id: UUID
  var ticketID: UUID
  var sequence: Int64
  var authorID: String
  var authorRole: CommerceV1.TicketAuthorRole
  var body: String
  var internalNote: Bool
  var createdAt: Date
}

/// A return (RMA) as stored.
struct ReturnRecord: Sendable, Hashable {
  var id: UUID
  var rmaCode: String
  var orderID: String
  var customerID: String
  var sellerID: String
  var status: CommerceV1.ReturnStatus
  var customerComment: String
  var decisionNote: String
  var returnLabelURL: String
  var currency: String
  var paymentID: String
  var warehouseID: String
  var refundID: String
  var createdAt: Date
  var updatedAt: Date
  var expireAt: Date?
  var receiveAt: Date?
  var refundAt: Date?
  var version: Int64
  var lines: [ReturnLineRecord]

  /// Whether the return still holds its units (REQUESTED, APPROVED or RECEIVED).
  var isOpen: Bool { [.requested, .approved, .received].contains(status) }

  /// The refund of every line: final once received, expected before.
  var refundTotal: Int64 { lines.reduce(0) { $0 + $1.refund } }
}

/// The units of one order line in a return, with the order line's price and tax as checkout
/// froze them.
struct ReturnLineRecord: Sendable, Hashable {
  var orderLineID: String
  var productID: String
  var title: String
  var quantity: Int32
  var reason: CommerceV1.ReturnReason
  var receivedQuantity: Int32 = 0
  var condition: CommerceV1.ItemCondition = .unspecified
  var unitPriceMinor: Int64
  var lineQuantity: Int32
  var lineTaxMinor: Int64
  /// The refund of the received units; nil before receipt.
  var refundMinor: Int64?

  /// The final refund once received, the expected one (every unit requested) before.
  var refund: Int64 {
    refundMinor ?? ReturnRefunds.refund(units: quantity, before: 0, unitPrice: unitPriceMinor, lineQuantity: lineQuantity, lineTax: lineTaxMinor)
  }
}

/// What a return refunds (support.proto: the unit price of every unit received plus its share
/// of the line's tax; shipping is not refunded).
enum ReturnRefunds {
  /// The refund of `units` units of a line of which `before` units were refunded by earlier
  /// returns. The tax share is the line's tax prorated by units, rounded down cumulatively:
  /// the units refunded so far carry floor(tax × refunded / ordered), so the shares of every
  /// unit of a line add up to its tax exactly and never more.
  static func refund(units: Int32, before: Int32, unitPrice: Int64, lineQuantity: Int32, lineTax: Int64) -> Int64 {
    guard units > 0, lineQuantity > 0 else { return 0 }
    let after = min(Int64(before) + Int64(units), Int64(lineQuantity))
    let taxShare = lineTax * after / Int64(lineQuantity) - lineTax * Int64(before) / Int64(lineQuantity)
    return unitPrice * Int64(units) + taxShare
  }
}

/// The ticket state machine of support.proto's TicketStatus.
enum TicketTransitions {
  /// Whether a ticket may go from `from` to `to` by UpdateTicketStatus (a message's own moves are
  /// ``afterMessage(_:by:internalNote:)``).
  static func allows(from: CommerceV1.TicketStatus, to: CommerceV1.TicketStatus) -> Bool {
    switch (from, to) {
    case (.open, .awaitingCustomer), (.open, .resolved), (.open, .closed): true
    case (.awaitingCustomer, .open), (.awaitingCustomer, .resolved), (.awaitingCustomer, .closed): true
    case (.resolved, .open), (.resolved, .closed): true
    default: false
    }
  }

  /// The status after a message: a customer's reopens (OPEN), an agent's reply waits for the
  /// customer, an internal note changes nothing.
  static func afterMessage(_ status: CommerceV1.TicketStatus, byCustomer: Bool, internalNote: Bool) -> CommerceV1.TicketStatus {
    if internalNote { return status }
    return byCustomer ? .open : .awaitingCustomer
  }
}

/// The return state machine of support.proto's ReturnStatus.
enum ReturnTransitions {
  static func allows(from: CommerceV1.ReturnStatus, to: CommerceV1.ReturnStatus) -> Bool {
    switch (from, to) {
    case (.requested, .approved), (.requested, .rejected), (.requested, .cancelled): true
    case (.approved, .received), (.approved, .cancelled), (.approved, .expired): true
    case (.received, .refunded): true
    default: false
    }
  }
}

extension CommerceV1.TicketStatus {
  /// The value name without its prefix ("OPEN"), for errors.
  var name: String { String((Self.protoValueNames[rawValue] ?? "").dropFirst("TICKET_STATUS_".count)) }
}

extension CommerceV1.ReturnStatus {
  /// The value name without its prefix ("REQUESTED"), for errors.
  var name: String { String((Self.protoValueNames[rawValue] ?? "").dropFirst("RETURN_STATUS_".count)) }
}

/// The contract's messages of the records.
enum SupportMessages {
  static func ticket(_ t: TicketRecord, staff: Bool) -> CommerceV1.Ticket {
    .with {
      $0.ticketId = t.id.lowercasedString
      $0.customerId = t.customerID
      $0.subject = t.subject
      $0.category = t.category
      $0.status = t.status
      $0.orderId = t.orderID
      $0.assigneeId = t.assigneeID
      $0.messageCount = staff ? t.messageCount : t.publicMessageCount
      $0.lastMessageTime = .init(staff ? t.lastMessageAt : t.lastPublicMessageAt)
      $0.createTime = .init(t.createdAt)
      $0.updateTime = .init(t.updatedAt)
      $0.version = t.version
    }
  }

  static func message(_ m: TicketMessageRecord) -> CommerceV1.TicketMessage {
    .with {
      $0.messageId = m.id.lowercasedString
      $0.ticketId = m.ticketID.lowercasedString
      $0.authorId = m.authorID
      $0.authorRole = m.authorRole
      $0.body = m.body
      $0.internalNote = m.internalNote
      $0.createTime = .init(m.createdAt)
    }
  }

  static func returnAuthorization(_ r: ReturnRecord) -> CommerceV1.ReturnAuthorization {
    .with {
      $0.returnId = r.id.lowercasedString
      $0.rmaCode = r.rmaCode
      $0.orderId = r.orderID
      $0.customerId = r.customerID
      $0.sellerId = r.sellerID
      $0.status = r.status
      $0.lines = r.lines.map { line in
        .with {
          $0.orderLineId = line.orderLineID
          $0.productId = line.productID
          $0.title = line.title
          $0.quantity = line.quantity
          $0.reason = line.reason
          $0.receivedQuantity = line.receivedQuantity
          $0.condition = line.condition
          $0.refundAmount = Money(amountMinor: line.refund, currency: r.currency).proto
        }
      }
      $0.customerComment = r.customerComment
      $0.decisionNote = r.decisionNote
      $0.returnLabelUrl = r.returnLabelURL
      $0.refundTotal = Money(amountMinor: r.refundTotal, currency: r.currency).proto
      $0.refundId = r.refundID
      $0.createTime = .init(r.createdAt)
      $0.updateTime = .init(r.updatedAt)
      if let expire = r.expireAt { $0.expireTime = .init(expire) }
      if let receive = r.receiveAt { $0.receiveTime = .init(receive) }
      if let refund = r.refundAt { $0.refundTime = .init(refund) }
      $0.version = r.version
    }
  }

  /// The customer's notification of a return's status.
  static func returnUpdated(_ r: ReturnRecord) -> CommerceV1.NotificationPayload {
    .with {
      $0.event = .returnUpdated(.with {
        $0.returnId = r.id.lowercasedString
        $0.orderId = r.orderID
        $0.status = r.status
        $0.refundTotal = Money(amountMinor: r.refundTotal, currency: r.currency).proto
      })
    }
  }

  /// The ApplyOrderEvent request that reports a return's change to OrderService; its event id
  /// names the return and the kind, so OrderService applies it once.
  static func orderEvent(_ kind: CommerceV1.OrderEventKind, _ r: ReturnRecord, at date: Date) -> CommerceV1.ApplyOrderEventRequest {
    .with {
      $0.orderId = r.orderID
      $0.kind = kind
      $0.subjectId = r.id.lowercasedString
      $0.occurTime = .init(date)
      switch kind {
      case .returnRequested:
        $0.eventId = "support:\(r.id.lowercasedString):requested"
        $0.lines = r.lines.map { line in .with { $0.orderLineId = line.orderLineID; $0.quantity = line.quantity } }
      case .refundIssued:
        $0.eventId = "support:\(r.id.lowercasedString):refunded"
        $0.lines = r.lines.filter { $0.receivedQuantity > 0 }.map { line in
          .with { $0.orderLineId = line.orderLineID; $0.quantity = line.receivedQuantity }
        }
        $0.amount = Money(amountMinor: r.refundTotal, currency: r.currency).proto
      default:
        $0.eventId = "support:\(r.id.lowercasedString):closed"
      }
    }
  }
}
