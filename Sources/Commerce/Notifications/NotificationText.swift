import CommerceAPI
import Foundation

/// The title and body NotificationService renders from an event's payload (pure; the contract
/// leaves the wording to the server). Identifiers are shortened to their first 8 characters.
enum NotificationText {
  static func render(_ payload: CommerceV1.NotificationPayload) -> (title: String, body: String) {
    switch payload.event {
    case .orderStatusChanged(let event)?:
      let order = short(event.orderId)
      let title =
        switch event.status {
        case .confirmed: "Your order is confirmed"
        case .packed: "Your order is packed"
        case .shipped: "Your order has shipped"
        case .delivered: "Your order was delivered"
        case .cancelled: "Your order was cancelled"
        case .failed: "Your order could not be placed"
        case .awaitingPayment: "Your order awaits payment"
        case .returnRequested: "Your return was requested"
        case .partiallyRefunded: "Your order was partly refunded"
        case .refunded: "Your order was refunded"
        default: "Your order was updated"
        }
      let from = event.previousStatus == .unspecified ? "" : " from \(words(event.previousStatus))"
      return (title, "Order \(order) changed\(from) to \(words(event.status)).")
    case .shipmentUpdated(let event)?:
      var body = "Shipment \(short(event.shipmentId)) of order \(short(event.orderId)) is \(words(event.status))"
      if !event.note.isEmpty { body += ": \(event.note)" }
      return ("Your shipment is \(words(event.status))", body + ".")
    case .paymentResult(let event)?:
      var body = "The payment for order \(short(event.orderId)) is \(words(event.status))"
      if event.status == .declined, event.declineReason != .unspecified { body += " (\(words(event.declineReason)))" }
      if let amount = event.amount, !amount.currency.isEmpty { body += ": \(amount.amountMinor) \(amount.currency) in minor units" }
      return ("Payment \(words(event.status))", body + ".")
    case .ticketReplied(let event)?:
      return ("Support replied to your ticket", "Ticket \(short(event.ticketId)): \(String(event.excerpt.prefix(200)))")
    case .returnUpdated(let event)?:
      return ("Your return is \(words(event.status))", "Return \(short(event.returnId)) of order \(short(event.orderId)) is \(words(event.status)).")
    case nil:
      return ("Notification", "")
    }
  }

  /// The first 8 characters of an identifier.
  static func short(_ id: String) -> String { String(id.prefix(8)) }

  /// An enum case as lower-case words ("awaitingPayment" -> "awaiting payment").
  static func words(_ value: some Any) -> String {
    var text = ""
    for character in String(describing: value) {
      if character.isUppercase {
        text += " " + character.lowercased()
      } else {
        text.append(character)
      }
    }
    return text
  }
}
