import CommerceAPI
import CommerceKit
import Foundation

/// A shipment's status as the schema spells it (the ShipmentStatus value name without its
/// prefix).
extension CommerceV1.ShipmentStatus {
  var storedName: String {
    String((Self.protoValueNames[rawValue] ?? "SHIPMENT_STATUS_UNSPECIFIED").dropFirst("SHIPMENT_STATUS_".count))
  }

  init?(storedName: String) {
    guard let number = Self.protoValueNames.first(where: { $0.value == "SHIPMENT_STATUS_" + storedName })?.key, number != 0 else {
      return nil
    }
    self.init(rawValue: number)
  }

  /// DELIVERED, RETURNED_TO_SENDER, LOST and CANCELLED: nothing moves the shipment afterwards.
  var isFinal: Bool { self == .delivered || self == .returnedToSender || self == .lost || self == .cancelled }

  /// Whether the carrier has (or had) the parcel in this status.
  var carrierHasParcel: Bool {
    switch self {
    case .pickedUp, .inTransit, .outForDelivery, .delivered, .deliveryFailed, .returnedToSender: true
    case .unspecified, .labelCreated, .lost, .cancelled, .unrecognized: false
    }
  }

  /// Whether the order's customer is notified (SHIPMENT_UPDATED) when a shipment reaches this
  /// status: the parcel's journey to them. A cancellation moves the order back (its status
  /// change is the customer's news), and a lost parcel is the business of support.
  var tellsCustomer: Bool {
    switch self {
    case .labelCreated, .pickedUp, .inTransit, .outForDelivery, .delivered, .deliveryFailed, .returnedToSender: true
    case .unspecified, .lost, .cancelled, .unrecognized: false
    }
  }
}

/// The shipment state machine of shipping.proto (ShipmentStatus), and where a partner's report
/// goes: a report at least as recent as the latest event must be an allowed transition and moves
/// the status; an older one only joins the timeline.
enum ShipmentTransitions {
  static let allowed: [CommerceV1.ShipmentStatus: Set<CommerceV1.ShipmentStatus>] = [
    .labelCreated: [.pickedUp, .cancelled, .lost],
    .pickedUp: [.inTransit, .outForDelivery, .delivered, .lost],
    .inTransit: [.inTransit, .outForDelivery, .delivered, .lost],
    .outForDelivery: [.delivered, .deliveryFailed, .lost],
    .deliveryFailed: [.outForDelivery, .inTransit, .returnedToSender, .lost],
  ]

  static func isAllowed(_ from: CommerceV1.ShipmentStatus, to: CommerceV1.ShipmentStatus) -> Bool {
    allowed[from]?.contains(to) ?? false
  }

  /// What a report does to a shipment.
  enum Effect: Equatable {
    /// The report is the latest by occur time: the shipment takes its status.
    case advance
    /// The report is older than the latest event: it joins the timeline, the status stays.
    case timelineOnly
  }

  /// Where a report of `status` at `occurTime` goes, given the shipment's `current` status and
  /// the occur time of its latest event (nil before the first report). Throws
  /// FAILED_PRECONDITION (INVALID_STATE_TRANSITION) for a transition the machine does not allow:
  /// a latest report that is not a transition from `current`, any report about a CANCELLED
  /// shipment, and a report of LABEL_CREATED or CANCELLED older than the latest event (those are
  /// not a partner's to report in the past).
  static func effect(
    of status: CommerceV1.ShipmentStatus, at occurTime: Date, current: CommerceV1.ShipmentStatus, latest: Date?
  ) throws(CommerceError) -> Effect {
    let refused = CommerceError.invalidTransition(from: current.storedName, to: status.storedName)
    guard current != .cancelled else { throw refused }
    if let latest, occurTime < latest {
      guard status != .labelCreated, status != .cancelled, status != .unspecified else { throw refused }
      return .timelineOnly
    }
    guard isAllowed(current, to: status) else { throw refused }
    return .advance
  }
}
