import ArgumentParser
import CommerceAPI
import Foundation
import Messages
import RPC
import Synchronization

/// Where the invariant check reads the system's state: ``RPCReadBack`` (the deployment, through
/// RPC as an admin) in runs; any other source in the check's own tests.
protocol InvariantReadBack: Sendable {
  /// Units on hand and reserved of each product, totalled over warehouses.
  func stock(_ productIDs: [String]) async throws -> [String: InvariantCheck.Stock]
  /// Every order placed at or after `since`; with `inFlightOnly`, only those still PENDING or
  /// AWAITING_PAYMENT.
  func orders(since: Date, inFlightOnly: Bool) async throws -> [InvariantCheck.Order]
  /// The status of each reservation ("ACTIVE", "COMMITTED", "RELEASED", "EXPIRED").
  func reservationStatuses(_ reservationIDs: [String]) async throws -> [String: String]
  /// The charge of every payment (attempt) of each order.
  func charges(ofOrders orderIDs: [String]) async throws -> [String: [InvariantCheck.Charge]]
}

/// What loadgen's checkouts were told: the order ids of the accepted ones, and of the failed
/// ones whose error named their order (ErrorInfo metadata "orderId").
final class CheckoutLedger: Sendable {
  private let state = Mutex((accepted: Set<String>(), rejected: Set<String>()))

  var accepted: Set<String> { state.withLock { $0.accepted } }
  var rejected: Set<String> { state.withLock { $0.rejected } }

  func recordAccepted(_ orderID: String) { state.withLock { _ = $0.accepted.insert(orderID) } }
  func recordRejected(_ orderID: String) { state.withLock { _ = $0.rejected.insert(orderID) } }

  /// Runs one Checkout call and records its answer.
  func record(_ call: () async throws -> CommerceV1.CheckoutResponse) async throws -> CommerceV1.CheckoutResponse {
    do {
      let response = try await call()
      if let id = response.order?.orderId, !id.isEmpty { recordAccepted(id) }
      return response
    } catch let error as RPCError {
      if let id = error.commerceOrderID { recordRejected(id) }
      throw error
    }
  }
}

extension RPCError {
  /// The "orderId" of the commerce ErrorInfo the error carries, if any.
  var commerceOrderID: String? {
    details?.details.lazy.compactMap { detail -> String? in
      guard case .errorInfo(let info) = detail.detail, info.domain == CommerceV1.ErrorReason.domain else { return nil }
      return info.metadata["orderId"]
    }.first
  }
}

/// Reads the invariants' inputs from a deployment through RPC, as an ADMIN user.
struct RPCReadBack: InvariantReadBack {
  let clients: CommerceClients
  let admin: CallOptions

  func stock(_ productIDs: [String]) async throws -> [String: InvariantCheck.Stock] {
    let batches = stride(from: 0, to: productIDs.count, by: 100).map { Array(productIDs[$0..<min($0 + 100, productIDs.count)]) }
    let answers = try await Preparation.concurrentMap(batches, width: 4) { batch in
      var request = CommerceV1.GetStockRequest()
      request.productIds = batch
      return try await clients.inventory.getStock(request, options: admin).stocks
    }
    var result: [String: InvariantCheck.Stock] = [:]
    for stock in answers.joined() {
      result[stock.productId] = InvariantCheck.Stock(onHand: stock.totalOnHand, reserved: stock.totalReserved)
    }
    return result
  }

  func orders(since: Date, inFlightOnly: Bool) async throws -> [InvariantCheck.Order] {
    var request = CommerceV1.ListOrdersRequest()
    request.pageSize = 100
    if inFlightOnly { request.statuses = [.pending, .awaitingPayment] }
    var minimum = GoogleProtobuf.Timestamp()
    let seconds = since.timeIntervalSince1970.rounded(.down)
    minimum.seconds = Int64(seconds)
    minimum.nanos = Int32((since.timeIntervalSince1970 - seconds) * 1e9)
    request.minCreateTime = minimum
    var orders: [InvariantCheck.Order] = []
    while true {
      let page = try await clients.orders.listOrders(request, options: admin)
      orders += page.orders.map(Self.order)
      if page.nextPageToken.isEmpty { return orders }
      request.pageToken = page.nextPageToken
    }
  }

  func reservationStatuses(_ reservationIDs: [String]) async throws -> [String: String] {
    let answers = try await Preparation.concurrentMap(reservationIDs, width: 16) { id -> (String, String) in
      var request = CommerceV1.GetReservationRequest()
      request.reservationId = id
      let status = try await clients.inventory.getReservation(request, options: admin).reservation?.status
      return (id, status.map(Self.name) ?? "UNKNOWN")
    }
    return Dictionary(answers, uniquingKeysWith: { first, _ in first })
  }

  func charges(ofOrders orderIDs: [String]) async throws -> [String: [InvariantCheck.Charge]] {
    let answers = try await Preparation.concurrentMap(orderIDs, width: 16) { id -> (String, [InvariantCheck.Charge]) in
      var request = CommerceV1.ListPaymentsRequest()
      request.orderId = id
      request.pageSize = 100
      let payments = try await clients.payments.listPayments(request, options: admin).payments
      return (id, payments.map { Self.charge($0.status) })
    }
    return Dictionary(answers, uniquingKeysWith: { first, _ in first })
  }

  static func order(_ order: CommerceV1.Order) -> InvariantCheck.Order {
    let outcome: InvariantCheck.Outcome
    switch order.status {
    case .pending, .awaitingPayment: outcome = .inFlight
    case .failed: outcome = .failed
    case .cancelled: outcome = .cancelled
    default: outcome = .sold
    }
    var units: [String: Int64] = [:]
    for line in order.lines { units[line.productId, default: 0] += Int64(line.quantity) }
    return InvariantCheck.Order(
      id: order.orderId, outcome: outcome, units: units, paymentID: order.paymentId,
      charge: order.paymentId.isEmpty ? .none : charge(order.paymentStatus), reservationID: order.reservationId)
  }

  static func charge(_ status: CommerceV1.PaymentStatus) -> InvariantCheck.Charge {
    switch status {
    case .authorized, .captured, .partiallyRefunded: .live
    case .pending: .pending
    default: .none
    }
  }

  static func name(_ status: CommerceV1.ReservationStatus) -> String {
    switch status {
    case .active: "ACTIVE"
    case .committed: "COMMITTED"
    case .released: "RELEASED"
    case .expired: "EXPIRED"
    default: "UNKNOWN"
    }
  }
}

/// The invariant check around one run: the stock before, then after the run every order
/// settled, read back and judged.
struct InvariantGuard: Sendable {
  let readBack: any InvariantReadBack
  let products: [String]
  let ledger: CheckoutLedger
  /// When the run started (orders from then on are the run's).
  let since: Date
  let before: [String: InvariantCheck.Stock]

  /// Reads the stock of `products` before the run.
  static func prepare(
    readBack: any InvariantReadBack, products: [String], ledger: CheckoutLedger, log: @Sendable (String) -> Void
  ) async throws -> InvariantGuard {
    log("reading the stock of \(products.count) products for the invariant check")
    let since = Date()
    let before = try await readBack.stock(products)
    return InvariantGuard(readBack: readBack, products: products, ledger: ledger, since: since, before: before)
  }

  /// Waits (up to `settleTimeout`) until no order of the run is PENDING or AWAITING_PAYMENT,
  /// then reads everything back and judges it.
  func check(settleTimeout: Duration, log: @Sendable (String) -> Void) async throws -> InvariantCheck.Report {
    let clock = ContinuousClock()
    let deadline = clock.now + settleTimeout
    var inFlight = try await readBack.orders(since: since, inFlightOnly: true)
    var lastReport = clock.now
    while !inFlight.isEmpty && clock.now < deadline {
      if clock.now - lastReport >= .seconds(5) {
        log("waiting for \(inFlight.count) orders in flight to settle")
        lastReport = clock.now
      }
      try await Task.sleep(for: .milliseconds(250))
      inFlight = try await readBack.orders(since: since, inFlightOnly: true)
    }
    let orders = try await readBack.orders(since: since, inFlightOnly: false)
    log("checking invariants over \(orders.count) orders and \(products.count) products")
    let after = try await readBack.stock(products)
    let ended = orders.filter { $0.outcome == .failed || $0.outcome == .cancelled }
    let reservations = try await readBack.reservationStatuses(ended.map(\.reservationID).filter { !$0.isEmpty })
    let charges = try await readBack.charges(ofOrders: ended.filter { !$0.paymentID.isEmpty }.map(\.id))
    return InvariantCheck.evaluate(
      InvariantCheck.Inputs(
        before: before, after: after, orders: orders, accepted: ledger.accepted, rejected: ledger.rejected,
        reservations: reservations, failedOrderCharges: charges))
  }
}

extension InvariantGuard {
  /// The guard of a run of `scenario` against the deployment behind `clients`, or nil when the
  /// scenario buys nothing. Logs in as the manifest's first ADMIN.
  static func forRun(
    of scenario: any Scenario, clients: CommerceClients, manifest: LoadManifest?, ledger: CheckoutLedger,
    callTimeout: Duration, log: @escaping @Sendable (String) -> Void
  ) async throws -> InvariantGuard? {
    let products = scenario.stockedProducts
    guard !products.isEmpty, let manifest else { return nil }
    guard let admin = manifest.admins.first else {
      throw ValidationError(
        "the invariant check reads the system back as an ADMIN and the manifest lists none (or pass --no-invariants)")
    }
    let options = try await Preparation.logIn([admin], clients: clients, timeout: callTimeout, log: { _ in })[0]
    return try await prepare(
      readBack: RPCReadBack(clients: clients, admin: options), products: products, ledger: ledger, log: log)
  }
}
