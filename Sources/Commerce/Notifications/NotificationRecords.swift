import CommerceAPI
import CommerceKit
import Foundation
import Messages

/// A notification as stored.
struct NotificationRecord: Sendable, Hashable {
  var id: UUID
  var recipientID: String
  var sequence: Int64
  var kind: CommerceV1.NotificationKind
  var title: String
  var body: String
  var sourceService: String
  var sourceEventID: String
  var occurTime: Date
  var createTime: Date
  var readTime: Date?
  var payload: CommerceV1.NotificationPayload

  var proto: CommerceV1.Notification {
    .with {
      $0.notificationId = id.uuidString.lowercased()
      $0.recipientId = recipientID
      $0.sequence = sequence
      $0.kind = kind
      $0.title = title
      $0.body = body
      $0.sourceService = sourceService
      $0.sourceEventId = sourceEventID
      $0.occurTime = .init(occurTime)
      $0.createTime = .init(createTime)
      $0.readTime = readTime.map { .init($0) }
      $0.payload = payload
    }
  }
}

/// An accepted event about to become a notification (its sequence is given out by the store).
struct NewNotification: Sendable, Hashable {
  var id: UUID
  var recipientID: String
  var kind: CommerceV1.NotificationKind
  var title: String
  var body: String
  var sourceEventID: String
  var occurTime: Date
  var payload: CommerceV1.NotificationPayload
}

extension CommerceV1.NotificationPayload {
  /// The kind the member set in the payload stands for; nil when no member is set.
  var kind: CommerceV1.NotificationKind? {
    switch event {
    case .orderStatusChanged?: .orderStatusChanged
    case .shipmentUpdated?: .shipmentUpdated
    case .paymentResult?: .paymentResult
    case .ticketReplied?: .ticketReplied
    case .returnUpdated?: .returnUpdated
    case nil: nil
    }
  }
}

/// The full service names of the identities that publish events (Notification.source_service).
enum SourceServices {
  static func fullName(of identity: String) -> String {
    switch identity {
    case "orders": "emporium.commerce.v1.OrderService"
    case "payments": "emporium.commerce.v1.PaymentService"
    case "shipping": "emporium.commerce.v1.ShippingService"
    case "support": "emporium.commerce.v1.SupportService"
    default: identity
    }
  }
}
