import CommerceAPI
import CommerceKit
import Foundation
import Messages

/// Orders as the contract's messages.
enum OrderMessages {
  /// What of an order a caller sees.
  enum View: Sendable, Equatable {
    /// Everything: the customer, ADMIN users, services.
    case full
    /// Only the lines of one seller (sellers with lines in the order).
    case seller(String)
  }

  static func money(_ amount: Int64, _ currency: String) -> CommerceV1.Money {
    .with {
      $0.amountMinor = amount
      $0.currency = currency
    }
  }

  static func order(_ o: OrderRecord, view: View) -> CommerceV1.Order {
    let lines: [OrderLineRecord]
    switch view {
    case .full: lines = o.lines
    case .seller(let seller): lines = o.lines.filter { $0.sellerID == seller }
    }
    return .with {
      $0.orderId = o.id.lowercasedString
      $0.customerId = o.customerID
      $0.status = o.status
      $0.lines = lines.map { line in
        .with {
          $0.orderLineId = line.id.lowercasedString
          $0.productId = line.productID
          $0.sellerId = line.sellerID
          $0.title = line.title
          $0.imageUrl = line.imageURL
          $0.unitPrice = money(line.unitPrice, o.currency)
          $0.quantity = line.quantity
          $0.lineTotal = money(line.lineTotal, o.currency)
          $0.tax = money(line.tax, o.currency)
          $0.shippedQuantity = line.shippedQuantity
          $0.refundedQuantity = line.refundedQuantity
        }
      }
      $0.totals = .with {
        $0.subtotal = money(o.subtotal, o.currency)
        $0.shipping = money(o.shipping, o.currency)
        $0.tax = money(o.tax, o.currency)
        $0.total = money(o.total, o.currency)
        $0.refunded = money(o.refunded, o.currency)
      }
      $0.shippingAddress = o.shippingAddress
      $0.billingAddress = o.billingAddress
      $0.shippingSpeed = o.shippingSpeed
      $0.paymentId = o.paymentID ?? ""
      $0.paymentStatus = o.paymentStatus
      if let method = o.paymentMethod { $0.paymentMethod = method }
      $0.shipmentIds = o.shipmentIDs
      $0.returnIds = o.returnIDs
      if let failure = o.failure {
        $0.failure = .with {
          $0.reason = failure.reason
          $0.messageText = failure.message
          $0.declineReason = CommerceV1.DeclineReason(rawValue: failure.declineReason)
          $0.shortProductIds = failure.shortProductIDs
        }
      }
      if let at = o.cancelledAt {
        $0.cancellation = .with {
          $0.reason = o.cancelReason ?? .unspecified
          $0.reasonText = o.cancelText ?? ""
          $0.cancelledByUserId = o.cancelledBy ?? ""
          $0.cancelTime = .init(at)
        }
      }
      $0.statusHistory = o.history.map { entry in
        .with {
          $0.status = entry.status
          $0.changeTime = .init(entry.at)
          $0.note = entry.note
        }
      }
      $0.createTime = .init(o.createdAt)
      $0.updateTime = .init(o.updatedAt)
      if let at = o.deliveredAt { $0.deliverTime = .init(at) }
      if let at = o.returnWindowClosesAt { $0.returnWindowCloseTime = .init(at) }
      $0.version = o.version
      $0.reservationId = o.reservationID ?? ""
    }
  }
}
