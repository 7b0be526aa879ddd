import CommerceAPI
import CommerceKit
import Foundation

/// An order's status as the schema spells it (the OrderStatus value name without its prefix).
extension CommerceV1.OrderStatus {
  var storedName: String {
    String((Self.protoValueNames[rawValue] ?? "ORDER_STATUS_UNSPECIFIED").dropFirst("ORDER_STATUS_".count))
  }

  init?(storedName: String) {
    guard let number = Self.protoValueNames.first(where: { $0.value == "ORDER_STATUS_" + storedName })?.key, number != 0 else {
      return nil
    }
    self.init(rawValue: number)
  }

  /// FAILED, CANCELLED and REFUNDED: nothing changes the order afterwards.
  var isFinal: Bool { self == .failed || self == .cancelled || self == .refunded }
}

/// The order state machine of OrderStatus's comment, as a pure rule: which status may follow
/// which. Every status change of the service goes through ``check(_:to:)``.
enum OrderTransitions {
  static let allowed: [CommerceV1.OrderStatus: Set<CommerceV1.OrderStatus>] = [
    .pending: [.awaitingPayment, .failed, .cancelled],
    .awaitingPayment: [.confirmed, .failed, .cancelled],
    .confirmed: [.packed, .cancelled],
    .packed: [.shipped, .cancelled, .confirmed],
    .shipped: [.delivered],
    .delivered: [.returnRequested],
    .returnRequested: [.delivered, .partiallyRefunded, .refunded],
    .partiallyRefunded: [.returnRequested, .refunded],
  ]

  static func isAllowed(_ from: CommerceV1.OrderStatus, to: CommerceV1.OrderStatus) -> Bool {
    allowed[from]?.contains(to) ?? false
  }

  /// FAILED_PRECONDITION (INVALID_STATE_TRANSITION) unless `from` may become `to`.
  static func check(_ from: CommerceV1.OrderStatus, to: CommerceV1.OrderStatus) throws(CommerceError) {
    guard isAllowed(from, to: to) else { throw CommerceError.invalidTransition(from: from.storedName, to: to.storedName) }
  }
}

/// Shipping and tax, as orders.proto's file comment documents them.
enum Pricing {
  /// The tax rate, in percent.
  static let taxPercent: Int64 = 8
  /// Standard shipping is free from this subtotal on (minor units).
  static let freeStandardShippingFrom: Int64 = 5000

  /// The flat shipping charge of a speed, in minor units.
  static func shipping(_ speed: CommerceV1.ShippingSpeed, subtotal: Int64) -> Int64 {
    switch speed {
    case .express: 1499
    case .overnight: 2999
    default: subtotal >= freeStandardShippingFrom ? 0 : 499
    }
  }

  /// 8% of an amount, rounded half up to a whole minor unit.
  static func tax(_ amount: Int64) -> Int64 {
    (amount * taxPercent + 50) / 100
  }
}

/// Where an order's saga stands.
enum SagaState: String, Sendable {
  /// A server holds the lease and is running the next step.
  case running
  /// Waiting for an asynchronous payment result (or for the payment service to be reachable).
  case waiting
  /// The order left PENDING and AWAITING_PAYMENT.
  case done
}

/// One line of an order as stored.
struct OrderLineRecord: Sendable, Equatable {
  var index: Int32
  var id: UUID
  var productID: String
  var sellerID: String
  var title: String
  var imageURL: String
  var unitPrice: Int64
  var quantity: Int32
  var tax: Int64
  var packedQuantity: Int32 = 0
  var shippedQuantity: Int32 = 0
  var refundedQuantity: Int32 = 0

  var lineTotal: Int64 { unitPrice * Int64(quantity) }
}

/// One entry of an order's status history.
struct HistoryEntry: Sendable, Equatable {
  var status: CommerceV1.OrderStatus
  var at: Date
  var note: String
}

/// Why checkout failed: the error Checkout answers (replayed to retries) and its summary.
struct OrderFailureRecord: Sendable, Equatable {
  var code: Int32
  var reason: String
  var message: String
  var details: [UInt8]?
  var declineReason: Int32 = 0
  var shortProductIDs: [String] = []
}

/// An order as stored, with its lines and history.
struct OrderRecord: Sendable, Equatable {
  var id: UUID
  var customerID: String
  var checkoutKey: String
  var requestHash: [UInt8]
  var status: CommerceV1.OrderStatus
  var version: Int64
  var currency: String
  var subtotal: Int64
  var shipping: Int64
  var tax: Int64
  var total: Int64
  var refunded: Int64 = 0
  var shippingSpeed: CommerceV1.ShippingSpeed
  var shippingAddress: CommerceV1.Address
  var billingAddress: CommerceV1.Address
  var paymentID: String?
  var paymentStatus: CommerceV1.PaymentStatus = .unspecified
  var paymentMethod: CommerceV1.PaymentMethodSummary?
  var paymentCaptured = false
  var reservationID: String?
  var reservationExpiresAt: Date?
  var reservationCommitted = false
  var shipmentIDs: [String] = []
  var shippedShipmentIDs: [String] = []
  var deliveredShipmentIDs: [String] = []
  var returnIDs: [String] = []
  var openReturnIDs: [String] = []
  var failure: OrderFailureRecord?
  var cancelReason: CommerceV1.CancelReason?
  var cancelText: String?
  var cancelledBy: String?
  var cancelledAt: Date?
  var createdAt: Date
  var updatedAt: Date
  var deliveredAt: Date?
  var returnWindowClosesAt: Date?
  var sagaState: SagaState
  var sagaOwner: UUID?
  var sagaLeaseUntil: Date?
  var sagaDeadline: Date
  /// Whether the order was placed from the cart (the bought lines leave it once CONFIRMED).
  var fromCart: Bool
  var lines: [OrderLineRecord]
  var history: [HistoryEntry] = []

  /// The sellers with lines in the order.
  var sellerIDs: Set<String> { Set(lines.map(\.sellerID)) }

  /// Moves to `status` (checked against the state machine), recording `note` in the history.
  mutating func move(to status: CommerceV1.OrderStatus, at now: Date, note: String) throws(CommerceError) {
    try OrderTransitions.check(self.status, to: status)
    self.status = status
    history.append(HistoryEntry(status: status, at: now, note: note))
    if status != .pending && status != .awaitingPayment { sagaState = .done }
  }

  /// The failure as the error Checkout answers.
  var failureError: RPCErrorValue? {
    guard let failure else { return nil }
    return RPCErrorValue(code: failure.code, message: failure.message, details: failure.details)
  }
}

/// An error as stored: status code, message and serialized ErrorDetails.
struct RPCErrorValue: Sendable, Equatable {
  var code: Int32
  var message: String
  var details: [UInt8]?
}
