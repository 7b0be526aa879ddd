public import CommerceAPI
import CommerceKit
public import Foundation
public import Logging
import Messages
public import Postgres
public import RPC
public import ServiceLifecycle

/// ShippingService (shipping.proto): shipments per order, delivery partners' reports, tracking
/// timelines and a live tracking stream.
///
/// Handlers translate between the contract's messages and the domain; the shipment state
/// machine is pure (``ShipmentTransitions``), the carriers are configuration (``Carriers``), and
/// all SQL is in `ShippingStore`. Orders are known only through OrderService.GetOrder (called as
/// the service identity "shipping", which sees every line) and warehouses through
/// InventoryService.ListWarehouses, never inside a transaction. Access rules are enforced by
/// CommerceKit's `AuthInterceptor`; handlers decide who may see or change which shipment.
///
/// Decisions the contract leaves to the server (docs/SHIPPING.md has the whole picture):
/// - Who sees a shipment: ADMIN users, OrderService, the order's customer, the shipping seller,
///   and the carrier's partners (its service identity, or a DELIVERY_PARTNER user the `carriers`
///   setting lists for it). Anyone else is told it does not exist (NOT_FOUND). A caller who sees
///   it but may not change it (a customer reporting, a partner cancelling) gets
///   PERMISSION_DENIED.
/// - CreateShipment by an ADMIN user ships one seller's lines: the named lines (all of one
///   seller), or with none named, every unshipped unit of an order that has a single seller.
///   A tracking number already used with the carrier is ALREADY_EXISTS.
/// - The carrier's estimate is the creation time plus 5 days (STANDARD), 2 (EXPRESS) or 1
///   (OVERNIGHT).
/// - Reports: a report at least as recent as the latest event must be a transition the state
///   machine allows; an older one joins the timeline without changing the status (reports of
///   LABEL_CREATED or CANCELLED in the past, and any report about a CANCELLED shipment, are
///   refused). An empty partner_event_id is not deduplicated.
/// - CancelShipment records a CANCELLED tracking event (note: the reason), so watchers see it.
/// - OrderService learns of every shipment change through the outbox: SHIPMENT_CREATED,
///   SHIPMENT_SHIPPED (the first status in the carrier's hands: the payment is captured then),
///   SHIPMENT_DELIVERED and SHIPMENT_CANCELLED are written with the change and sent by
///   the relay of order events (``OutboxRelay/applyingOrderEvents(from:topic:pool:orders:logger:eventID:)``) with an event id of the shipment and kind, so nothing is lost between
///   the commit and the call, and nothing is applied twice.
/// - The order's customer hears of each status change a customer cares about (LABEL_CREATED,
///   PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, DELIVERY_FAILED, RETURNED_TO_SENDER) as
///   a SHIPMENT_UPDATED notification, appended to the outbox with the change and delivered by
///   CommerceKit's `NotificationRelay` when NotificationService is a reachable peer.
/// - Idempotency scope of CreateShipment: the caller (principal).
public struct ShippingService: CommerceV1.ShippingService.ServiceProtocol {
  public struct Configuration: Sendable {
    /// The carriers and their partner users (the `carriers` setting).
    var carriers: Carriers = .standard
    /// The timeout of each call to a peer.
    public var peerCallTimeout: Duration = .seconds(10)
    /// How far in the future a report's occur_time may be.
    public var futureTolerance: TimeInterval = 5 * 60

    public init() {}

    /// Sets the carriers from a `carriers` setting (see docs/SHIPPING.md).
    public mutating func setCarriers(_ setting: String) throws {
      carriers = try Carriers(setting: setting)
    }
  }

  let store: ShippingStore
  let idempotency: IdempotencyStore
  let orders: CommerceV1.OrderService.Client
  let inventory: CommerceV1.InventoryService.Client
  let configuration: Configuration
  let logger: Logger
  let now: @Sendable () -> Date
  /// Ends WatchShipment streams when the server drains.
  let watchDrain = StreamDrain()
  /// NotificationService, for the relay of shipment news to customers; nil runs no relay.
  let notifications: (any ClientTransport)?

  /// - Parameters:
  ///   - pool: the pool; the service uses schema `shipping` only (migrated beforehand).
  ///   - orders, inventory: the peers' transports, carrying the identity "shipping".
  ///   - notifications: NotificationService's transport (identity "shipping"), when the process
  ///     reaches it; without it the customers' notifications wait in the outbox.
  public init(
    pool: PostgresPool, orders: any ClientTransport, inventory: any ClientTransport, notifications: (any ClientTransport)? = nil,
    configuration: Configuration = .init(), logger: Logger = Logger(label: "emporium.shipping"),
    now: @escaping @Sendable () -> Date = Date.init
  ) {
    self.store = ShippingStore(pool: pool)
    self.notifications = notifications
    self.idempotency = IdempotencyStore(pool: pool, schema: "shipping")
    self.orders = CommerceV1.OrderService.Client(orders)
    self.inventory = CommerceV1.InventoryService.Client(inventory)
    self.configuration = configuration
    self.logger = logger
    self.now = now
  }

  /// The background work the process runs beside the handlers: the relay of shipment events to
  /// OrderService, the end of WatchShipment streams at graceful shutdown, the outbox's
  /// retention, and, with NotificationService reachable, the relay of customers' notifications.
  public var backgroundServices: [any ServiceLifecycle.Service] {
    var services: [any ServiceLifecycle.Service] = [
      OutboxRelay.applyingOrderEvents(from: store.outbox, topic: ShippingStore.orderEventTopic, pool: store.pool, orders: orders, logger: logger),
      StreamDrain.OnShutdown(watchDrain),
      store.outbox.retention(pool: store.pool, logger: logger),
    ]
    if let notifications {
      services.append(NotificationRelay(outbox: store.outbox, pool: store.pool, notifications: notifications, logger: logger))
    }
    return services
  }

  private var peerOptions: CallOptions { CallOptions(timeout: configuration.peerCallTimeout) }

  // MARK: Who may see what

  /// How the current caller relates to a shipment.
  enum Relation {
    /// ADMIN users and OrderService: everything.
    case staff
    /// The order's customer.
    case customer
    /// The shipping seller.
    case seller
    /// The carrier's service identity or one of its DELIVERY_PARTNER users.
    case partner
  }

  /// How the caller relates to `shipment`, or nil when it may not see it.
  func relation(to shipment: ShipmentRecord) -> Relation? {
    guard let auth = CallAuth.current, let principal = auth.principal else { return nil }
    if auth.admission == .role { return .staff }
    if principal.kind == .service {
      if principal.subject == "orders" { return .staff }
      return configuration.carriers.isPartner(principal, of: shipment.carrierID) ? .partner : nil
    }
    if configuration.carriers.isPartner(principal, of: shipment.carrierID) { return .partner }
    if principal.subject == shipment.sellerID { return .seller }
    if principal.subject == shipment.customerID { return .customer }
    return nil
  }

  /// The shipment `text` names, if the caller may see it; NOT_FOUND otherwise.
  private func visibleShipment(_ text: String, field: String = "shipment_id") async throws -> (ShipmentRecord, Relation) {
    guard !text.isEmpty else { throw CommerceError.invalidArgument(field: field, "is required") }
    guard let id = UUID(id: text), let shipment = try await store.shipment(id), let relation = relation(to: shipment) else {
      throw CommerceError.notFound("shipment", text)
    }
    return (shipment, relation)
  }

  // MARK: Creating

  public func createShipment(request: CommerceV1.CreateShipmentRequest, context: ServerContext) async throws
    -> CommerceV1.CreateShipmentResponse
  {
    var violations = FieldViolations()
    violations.check(!request.orderId.isEmpty && request.orderId.count <= 64, "order_id", "must be 1 to 64 characters")
    violations.check(request.lines.count <= 100, "lines", "must hold at most 100 lines")
    var seen = Set<String>()
    for (index, line) in request.lines.enumerated() {
      violations.check(!line.orderLineId.isEmpty, "lines[\(index)].order_line_id", "is required")
      violations.check(line.quantity >= 1, "lines[\(index)].quantity", "must be at least 1")
      violations.check(seen.insert(line.orderLineId).inserted, "lines[\(index)].order_line_id", "names the line of an earlier entry")
    }
    if request.carrierId.isEmpty {
      violations.add("carrier_id", "is required")
    } else {
      violations.check(configuration.carriers.contains(request.carrierId), "carrier_id", "is not a carrier this deployment books")
    }
    violations.check(
      request.trackingNumber.utf8.count <= 64 && request.trackingNumber.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "tracking_number",
      "must be at most 64 printable ASCII characters without spaces")
    violations.check(!request.warehouseId.isEmpty, "warehouse_id", "is required")
    violations.check(!request.idempotencyKey.isEmpty, "idempotency_key", "is required")
    try violations.throwIfAny()
    let caller = try context.principal()
    let call = try IdempotencyStore.Call(
      scope: caller.description, method: CommerceV1.ShippingService.CreateShipment.descriptor, key: request.idempotencyKey,
      request: request)
    let isAdmin = CallAuth.current?.admission == .role

    // The order, as OrderService gives it to this service (every line).
    let order: CommerceV1.Order
    do {
      guard let found = try await orders.getOrder(.with { $0.orderId = request.orderId }, options: peerOptions).order else {
        throw CommerceError.notFound("order", request.orderId)
      }
      order = found
    } catch let error as RPCError where error.code == .notFound || error.code == .invalidArgument {
      throw CommerceError.notFound("order", request.orderId)
    }
    // Whose lines: the calling seller's, or for an ADMIN user the one seller of the named lines.
    let byID = Dictionary(order.lines.map { ($0.orderLineId, $0) }, uniquingKeysWith: { a, _ in a })
    let sellerID: String
    if isAdmin {
      let named = request.lines.isEmpty ? order.lines : request.lines.compactMap { byID[$0.orderLineId] }
      let sellers = Set(named.map(\.sellerId))
      guard sellers.count <= 1 else {
        throw CommerceError.invalidArgument(
          field: "lines", request.lines.isEmpty ? "must name the lines to ship: the order has several sellers" : "must all be one seller's")
      }
      guard let only = sellers.first else {
        throw CommerceError.invalidArgument(field: "lines[0].order_line_id", "is not a line of the order")
      }
      sellerID = only
    } else {
      guard caller.kind == .user, caller.has(.seller), order.lines.contains(where: { $0.sellerId == caller.subject }) else {
        throw CommerceError.notFound("order", request.orderId)
      }
      sellerID = caller.subject
    }
    for (index, line) in request.lines.enumerated() {
      guard let ordered = byID[line.orderLineId] else {
        violations.add("lines[\(index)].order_line_id", "is not a line of the order")
        continue
      }
      violations.check(ordered.sellerId == sellerID, "lines[\(index)].order_line_id", "is another seller's line")
    }
    try violations.throwIfAny()
    let warehouseKnown = try await inventory.knowsWarehouse(request.warehouseId, options: peerOptions)

    let sellerLines = order.lines.filter { $0.sellerId == sellerID }
    // The checks of what may change (the order's status, the warehouses) run under the key, so a
    // retry answers the first call's outcome even after the order moved on.
    return try await idempotency.run(call) { tx in
      guard order.status == .confirmed || order.status == .packed else {
        let status = String((CommerceV1.OrderStatus.protoValueNames[order.status.rawValue] ?? "").dropFirst("ORDER_STATUS_".count))
        throw CommerceError.invalidTransition(from: status, to: "LABEL_CREATED")
      }
      guard warehouseKnown else { throw CommerceError.notFound("warehouse", request.warehouseId) }
      let remaining = try await store.lockUnits(
        orderID: order.orderId, lines: sellerLines.map { ($0.orderLineId, $0.quantity) }, in: tx)
      var lines: [ShipmentLineRecord] = []
      var violations = FieldViolations()
      if request.lines.isEmpty {
        for line in sellerLines where (remaining[line.orderLineId] ?? 0) > 0 {
          lines.append(ShipmentLineRecord(orderLineID: line.orderLineId, productID: line.productId, quantity: remaining[line.orderLineId]!))
        }
        violations.check(!lines.isEmpty, "lines", "every unit of the seller's lines is already in a shipment")
      } else {
        for (index, wanted) in request.lines.enumerated() {
          let left = remaining[wanted.orderLineId] ?? 0
          violations.check(
            wanted.quantity <= left, "lines[\(index)].quantity", "exceeds the \(left) units of the line not yet in a shipment")
          lines.append(
            ShipmentLineRecord(orderLineID: wanted.orderLineId, productID: byID[wanted.orderLineId]?.productId ?? "", quantity: wanted.quantity))
        }
      }
      try violations.throwIfAny()
      let now = now()
      let shipment = ShipmentRecord(
        id: UUID(), orderID: order.orderId, customerID: order.customerId, sellerID: sellerID, carrierID: request.carrierId,
        trackingNumber: request.trackingNumber.isEmpty ? Carriers.trackingNumber(for: request.carrierId) : request.trackingNumber,
        status: .labelCreated, shippingSpeed: order.shippingSpeed == .unspecified ? .standard : order.shippingSpeed,
        destination: order.shippingAddress ?? .init(), warehouseID: request.warehouseId,
        estimatedDeliveryAt: now.addingTimeInterval(Self.transitDays(order.shippingSpeed) * 24 * 3600), latestSequence: nil,
        lastSequence: 0, handedOver: false, cancelReason: nil, createdAt: now, updatedAt: now, deliveredAt: nil, cancelledAt: nil,
        version: 1, lines: lines, latestEvent: nil)
      try await store.insert(shipment, in: tx)
      return .with { $0.shipment = ShipmentMessages.shipment(shipment) }
    }
  }

  static func transitDays(_ speed: CommerceV1.ShippingSpeed) -> TimeInterval {
    switch speed {
    case .express: 2
    case .overnight: 1
    default: 5
    }
  }

  // MARK: Reading

  public func getShipment(request: CommerceV1.GetShipmentRequest, context: ServerContext) async throws -> CommerceV1.GetShipmentResponse {
    let (shipment, _) = try await visibleShipment(request.shipmentId)
    return .with { $0.shipment = ShipmentMessages.shipment(shipment) }
  }

  public func listShipments(request: CommerceV1.ListShipmentsRequest, context: ServerContext) async throws
    -> CommerceV1.ListShipmentsResponse
  {
    guard !request.orderId.isEmpty else { throw CommerceError.invalidArgument(field: "order_id", "is required") }
    let caller = try context.principal()
    let order: CommerceV1.Order
    do {
      guard let found = try await orders.getOrder(.with { $0.orderId = request.orderId }, options: peerOptions).order else {
        throw CommerceError.notFound("order", request.orderId)
      }
      order = found
    } catch let error as RPCError where error.code == .notFound || error.code == .invalidArgument {
      throw CommerceError.notFound("order", request.orderId)
    }
    let shipments = try await store.shipments(orderID: order.orderId)
    let everything =
      CallAuth.current?.admission == .role || (caller.kind == .service && caller.subject == "orders")
      || (caller.kind == .user && caller.subject == order.customerId)
    let visible: [ShipmentRecord]
    if everything {
      visible = shipments
    } else if caller.kind == .user, caller.has(.seller), order.lines.contains(where: { $0.sellerId == caller.subject }) {
      visible = shipments.filter { $0.sellerID == caller.subject }
    } else {
      visible = shipments.filter { configuration.carriers.isPartner(caller, of: $0.carrierID) }
      guard !visible.isEmpty else { throw CommerceError.notFound("order", request.orderId) }
    }
    return .with { $0.shipments = visible.map(ShipmentMessages.shipment) }
  }

  public func trackShipment(request: CommerceV1.TrackShipmentRequest, context: ServerContext) async throws
    -> CommerceV1.TrackShipmentResponse
  {
    let shipment: ShipmentRecord
    switch request.lookup {
    case .shipmentId(let id)?:
      shipment = try await visibleShipment(id).0
    case .carrierTrackingNumber(let number)?:
      var violations = FieldViolations()
      violations.check(!number.carrierId.isEmpty, "carrier_tracking_number.carrier_id", "is required")
      violations.check(!number.trackingNumber.isEmpty, "carrier_tracking_number.tracking_number", "is required")
      try violations.throwIfAny()
      guard let found = try await store.shipment(carrierID: number.carrierId, trackingNumber: number.trackingNumber),
        relation(to: found) != nil
      else { throw CommerceError.notFound("tracking number", "\(number.carrierId)/\(number.trackingNumber)") }
      shipment = found
    case nil:
      throw CommerceError.invalidArgument(field: "lookup", "set shipment_id or carrier_tracking_number")
    }
    let events = try await store.timeline(shipment.id)
    return .with {
      $0.shipment = ShipmentMessages.shipment(shipment)
      $0.events = events.map(ShipmentMessages.event)
    }
  }

  // MARK: Reports

  public func updateShipmentStatus(request: CommerceV1.UpdateShipmentStatusRequest, context: ServerContext) async throws
    -> CommerceV1.UpdateShipmentStatusResponse
  {
    let now = now()
    var violations = FieldViolations()
    violations.check(!request.shipmentId.isEmpty, "shipment_id", "is required")
    switch request.status {
    case .unspecified, .unrecognized: violations.add("status", "must be a ShipmentStatus other than UNSPECIFIED")
    default: break
    }
    if let occur = request.occurTime {
      violations.check(
        occur.date <= now.addingTimeInterval(configuration.futureTolerance), "occur_time", "must be at most 5 minutes in the future")
    } else {
      violations.add("occur_time", "is required")
    }
    violations.check(request.note.count <= 500, "note", "must be at most 500 characters")
    violations.check(request.partnerEventId.count <= 200, "partner_event_id", "must be at most 200 characters")
    if let location = request.location {
      violations.check(location.facilityName.count <= 200, "location.facility_name", "must be at most 200 characters")
      violations.check(location.locality.count <= 200, "location.locality", "must be at most 200 characters")
      violations.check(location.administrativeArea.count <= 200, "location.administrative_area", "must be at most 200 characters")
      violations.check(
        location.regionCode.isEmpty || (location.regionCode.utf8.count == 2 && location.regionCode.utf8.allSatisfy { (0x41...0x5A).contains($0) }),
        "location.region_code", "must be an ISO 3166-1 alpha-2 code")
      if let point = location.coordinates {
        violations.check((-90...90).contains(point.latitude), "location.coordinates.latitude", "must be -90 to 90")
        violations.check((-180...180).contains(point.longitude), "location.coordinates.longitude", "must be -180 to 180")
      }
    }
    try violations.throwIfAny()
    let caller = try context.principal()
    guard let id = UUID(id: request.shipmentId) else { throw CommerceError.notFound("shipment", request.shipmentId) }
    let report = TrackingEventRecord(
      id: UUID(), shipmentID: id, sequence: 0, status: request.status, location: request.location,
      occurAt: request.occurTime?.date ?? now, recordedAt: now, note: request.note, reporterID: caller.subject,
      partnerEventID: request.partnerEventId.isEmpty ? nil : request.partnerEventId)
    let service = self
    let recorded = try await store.record(report, now: now) { shipment in
      switch service.relation(to: shipment) {
      case .staff?, .partner?: return
      case .customer?, .seller?: throw CommerceError.permissionDenied("only the carrier's delivery partners report a shipment's progress")
      case nil: throw CommerceError.notFound("shipment", request.shipmentId)
      }
    }
    return .with {
      $0.shipment = ShipmentMessages.shipment(recorded.shipment)
      $0.event = ShipmentMessages.event(recorded.event)
      $0.duplicate = recorded.duplicate
    }
  }

  // MARK: Cancelling

  public func cancelShipment(request: CommerceV1.CancelShipmentRequest, context: ServerContext) async throws
    -> CommerceV1.CancelShipmentResponse
  {
    var violations = FieldViolations()
    violations.check(!request.shipmentId.isEmpty, "shipment_id", "is required")
    violations.check(request.reason.count <= 500, "reason", "must be at most 500 characters")
    try violations.throwIfAny()
    let caller = try context.principal()
    guard let id = UUID(id: request.shipmentId) else { throw CommerceError.notFound("shipment", request.shipmentId) }
    let service = self
    let cancelled = try await store.cancel(id, reason: request.reason, reporterID: caller.subject, now: now()) { shipment in
      switch service.relation(to: shipment) {
      case .staff?, .seller?: return
      case .customer?, .partner?: throw CommerceError.permissionDenied("only the shipping seller, OrderService and ADMIN users cancel a shipment")
      case nil: throw CommerceError.notFound("shipment", request.shipmentId)
      }
    }
    return .with { $0.shipment = ShipmentMessages.shipment(cancelled) }
  }

  // MARK: Watching

  public func watchShipment(
    request: CommerceV1.WatchShipmentRequest, response: ResponseStreamWriter<CommerceV1.WatchShipmentResponse>, context: ServerContext
  ) async throws {
    guard request.afterSequence >= 0 else { throw CommerceError.invalidArgument(field: "after_sequence", "must not be negative") }
    let (first, _) = try await visibleShipment(request.shipmentId)
    // Subscribe before reading, so no event between the read and the subscription is missed.
    let notifications = try await store.pool.notifications(channel: ShippingStore.changeChannel)
    let drained = watchDrain.subscribe()
    let store = store
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for await _ in drained {}
        throw CommerceError(
          .unavailable, nil, "the server is shutting down; resume elsewhere with after_sequence", retryAfter: .milliseconds(100))
      }
      group.addTask {
        let id = first.id
        var lastSequence = request.afterSequence
        /// Sends every event after the last one sent; returns whether the shipment is final.
        func sendNew() async throws -> Bool {
          guard let shipment = try await store.shipment(id) else { throw CommerceError.notFound("shipment", request.shipmentId) }
          for event in try await store.events(id, after: lastSequence) {
            try await response.write(.with {
              $0.shipment = ShipmentMessages.shipment(shipment)
              $0.event = ShipmentMessages.event(event)
            })
            lastSequence = event.sequence
          }
          return shipment.status.isFinal && lastSequence >= shipment.lastSequence
        }
        guard let current = try await store.shipment(id) else { throw CommerceError.notFound("shipment", request.shipmentId) }
        if current.lastSequence <= lastSequence {
          try await response.write(.with { $0.shipment = ShipmentMessages.shipment(current) })
          if current.status.isFinal { return }
        } else if try await sendNew() {
          return
        }
        let idText = id.lowercasedString
        for await notification in notifications where notification.payload == idText {
          if try await sendNew() { return }
        }
      }
      // The first to end decides: the shipment reached a final status, or the server drains.
      try await group.next()
      group.cancelAll()
    }
  }
}
