import CommerceAPI
import CommerceKit
import Foundation
import Messages

/// A shipment as stored, with its lines and latest event.
struct ShipmentRecord: Sendable, Equatable {
  var id: UUID
  var orderID: String
  var customerID: String
  var sellerID: String
  var carrierID: String
  var trackingNumber: String
  var status: CommerceV1.ShipmentStatus
  var shippingSpeed: CommerceV1.ShippingSpeed
  var destination: CommerceV1.Address
  var warehouseID: String
  var estimatedDeliveryAt: Date?
  var latestSequence: Int64?
  var lastSequence: Int64
  var handedOver: Bool
  var cancelReason: String?
  var createdAt: Date
  var updatedAt: Date
  var deliveredAt: Date?
  var cancelledAt: Date?
  var version: Int64
  var lines: [ShipmentLineRecord]
  /// The latest event by occur time, when loaded.
  var latestEvent: TrackingEventRecord?
}

/// Units of one order line in a shipment.
struct ShipmentLineRecord: Sendable, Equatable {
  var orderLineID: String
  var productID: String
  var quantity: Int32
}

/// One recorded report.
struct TrackingEventRecord: Sendable, Equatable {
  var id: UUID
  var shipmentID: UUID
  var sequence: Int64
  var status: CommerceV1.ShipmentStatus
  var location: CommerceV1.TrackingLocation?
  var occurAt: Date
  var recordedAt: Date
  var note: String
  var reporterID: String
  var partnerEventID: String?
}

/// Shipments as the contract's messages.
enum ShipmentMessages {
  static func shipment(_ s: ShipmentRecord) -> CommerceV1.Shipment {
    .with {
      $0.shipmentId = s.id.lowercasedString
      $0.orderId = s.orderID
      $0.sellerId = s.sellerID
      $0.lines = s.lines.map { line in
        .with {
          $0.orderLineId = line.orderLineID
          $0.productId = line.productID
          $0.quantity = line.quantity
        }
      }
      $0.carrierId = s.carrierID
      $0.trackingNumber = s.trackingNumber
      $0.status = s.status
      $0.shippingSpeed = s.shippingSpeed
      $0.destination = s.destination
      $0.warehouseId = s.warehouseID
      if let at = s.estimatedDeliveryAt { $0.estimatedDeliveryTime = .init(at) }
      if let event = s.latestEvent { $0.latestEvent = Self.event(event) }
      $0.createTime = .init(s.createdAt)
      $0.updateTime = .init(s.updatedAt)
      if let at = s.deliveredAt { $0.deliverTime = .init(at) }
      $0.version = s.version
    }
  }

  static func event(_ e: TrackingEventRecord) -> CommerceV1.TrackingEvent {
    .with {
      $0.eventId = e.id.lowercasedString
      $0.shipmentId = e.shipmentID.lowercasedString
      $0.sequence = e.sequence
      $0.status = e.status
      if let location = e.location { $0.location = location }
      $0.occurTime = .init(e.occurAt)
      $0.recordTime = .init(e.recordedAt)
      $0.note = e.note
      $0.reporterId = e.reporterID
    }
  }

  /// The customer's news of a shipment's status (a SHIPMENT_UPDATED notification's payload);
  /// `note` is the tracking event's.
  static func update(_ s: ShipmentRecord, note: String) -> CommerceV1.ShipmentUpdated {
    .with {
      $0.shipmentId = s.id.lowercasedString
      $0.orderId = s.orderID
      $0.status = s.status
      $0.carrierId = s.carrierID
      $0.trackingNumber = s.trackingNumber
      $0.note = note
      if let at = s.estimatedDeliveryAt { $0.estimatedDeliveryTime = .init(at) }
    }
  }

  /// The ApplyOrderEvent request that tells OrderService about a shipment (its event id is the
  /// shipment's and the kind's, so OrderService applies it once however often it is sent).
  static func orderEvent(_ kind: CommerceV1.OrderEventKind, _ s: ShipmentRecord, at: Date) -> CommerceV1.ApplyOrderEventRequest {
    .with {
      $0.orderId = s.orderID
      $0.eventId = "shipping:\(s.id.lowercasedString):\(kind.rawValue)"
      $0.kind = kind
      $0.subjectId = s.id.lowercasedString
      $0.lines = s.lines.map { line in
        .with {
          $0.orderLineId = line.orderLineID
          $0.quantity = line.quantity
        }
      }
      $0.occurTime = .init(at)
    }
  }
}
