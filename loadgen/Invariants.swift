/// The business invariants loadgen checks after a checkout or hot-product run (docs/LOADGEN.md,
/// "Business invariants"): what the system says, read back through RPC as an admin, against
/// what loadgen saw. Pure: ``InvariantReadBack`` gathers the inputs, ``InvariantCheck/evaluate``
/// judges them.
enum InvariantCheck {
  /// loadgen's exit status when an invariant is broken.
  static let exitCode: Int32 = 3

  /// Units on hand and reserved of one product, over every warehouse.
  struct Stock: Sendable, Equatable {
    var onHand: Int64
    var reserved: Int64
  }

  /// Where an order stands, as far as the invariants care.
  enum Outcome: String, Sendable {
    /// CONFIRMED or later (paid, stock committed), not cancelled.
    case sold
    /// FAILED: checkout did not complete.
    case failed
    /// CANCELLED: released or restocked, voided or refunded.
    case cancelled
    /// PENDING or AWAITING_PAYMENT: the saga has not finished.
    case inFlight
  }

  /// Whether a payment still holds or took the customer's money.
  enum Charge: String, Sendable {
    /// Authorized (held) or captured, and not refunded in full.
    case live
    /// Declined, voided, failed, refunded, or not answered yet.
    case none
    case pending
  }

  /// One order placed during the run.
  struct Order: Sendable {
    var id: String
    var outcome: Outcome
    /// Units per product.
    var units: [String: Int64]
    /// The order's payment as the order reports it (empty id: payment never started).
    var paymentID: String
    var charge: Charge
    var reservationID: String
  }

  /// What was read back from the system.
  struct Inputs: Sendable {
    /// Stock of the run's products before the first journey.
    var before: [String: Stock]
    /// The same products' stock after every order settled.
    var after: [String: Stock]
    /// Every order placed from the run's start on.
    var orders: [Order]
    /// Checkouts that answered OK: the order id of each.
    var accepted: Set<String>
    /// Checkouts that failed with an order id in their error (FAILED_PRECONDITION, for example
    /// INSUFFICIENT_STOCK or PAYMENT_DECLINED).
    var rejected: Set<String>
    /// Reservation statuses of the failed and cancelled orders that had one ("ACTIVE",
    /// "COMMITTED", "RELEASED", "EXPIRED"), by reservation id.
    var reservations: [String: String]
    /// Charges of the failed and cancelled orders' payments (every attempt), by order id.
    var failedOrderCharges: [String: [Charge]]
  }

  /// One broken invariant, with what shows it.
  struct Violation: Sendable, Equatable, CustomStringConvertible {
    enum Kind: String, Sendable, Codable {
      case oversold
      case soldUnitsMismatch = "sold-units-mismatch"
      case strandedStock = "stranded-stock"
      case acceptedWithoutOrder = "accepted-without-order"
      case confirmedWithoutCharge = "confirmed-without-charge"
      case failedHoldsStock = "failed-holds-stock"
      case failedCharged = "failed-charged"
      case unsettled
    }
    var kind: Kind
    var detail: String
    var description: String { "\(kind.rawValue): \(detail)" }
  }

  /// The verdict, with the figures it rests on.
  struct Report: Sendable {
    var violations: [Violation]
    var products: Int
    var orders: Int
    var soldOrders: Int
    var failedOrders: Int
    var unitsSold: Int64
    var unitsOnSoldOrders: Int64
    var passed: Bool { violations.isEmpty }

    /// The text summary: one line per invariant, then every violation (at most 20 per kind).
    func text() -> String {
      var lines = ["invariants: \(passed ? "PASSED" : "FAILED")"]
      func mark(_ kinds: [Violation.Kind]) -> String {
        violations.contains { kinds.contains($0.kind) } ? "FAIL" : "ok"
      }
      lines.append(
        "  [\(mark([.oversold]))] no product oversold (\(products) products: 0 <= reserved <= on hand, sold <= stocked)")
      lines.append(
        "  [\(mark([.soldUnitsMismatch, .strandedStock]))] units sold (\(unitsSold)) equal units on confirmed orders (\(unitsOnSoldOrders)), none held without an order"
      )
      lines.append(
        "  [\(mark([.acceptedWithoutOrder, .confirmedWithoutCharge]))] every accepted checkout has its order (\(soldOrders) confirmed, each with a live charge)"
      )
      lines.append(
        "  [\(mark([.failedHoldsStock, .failedCharged]))] every failed checkout left no reservation or charge (\(failedOrders) failed or cancelled)"
      )
      if violations.contains(where: { $0.kind == .unsettled }) {
        lines.append("  [FAIL] every order settled")
      }
      var shown: [Violation.Kind: Int] = [:]
      for violation in violations {
        shown[violation.kind, default: 0] += 1
        if shown[violation.kind]! <= 20 { lines.append("  - " + violation.description) }
      }
      for (kind, count) in shown.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where count > 20 {
        lines.append("  - \(kind.rawValue): \(count - 20) more")
      }
      return lines.joined(separator: "\n") + "\n"
    }
  }

  /// Judges `inputs`. Stock figures are totals over warehouses; the stock of products outside
  /// `before` (not the run's) is not judged, but their units on orders are still checked for
  /// charges and reservations.
  static func evaluate(_ inputs: Inputs) -> Report {
    var violations: [Violation] = []
    let byID = Dictionary(inputs.orders.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

    // Units on sold and in-flight orders, per product.
    var soldUnits: [String: Int64] = [:]
    var inFlightUnits: [String: Int64] = [:]
    for order in inputs.orders {
      switch order.outcome {
      case .sold: for (product, units) in order.units { soldUnits[product, default: 0] += units }
      case .inFlight: for (product, units) in order.units { inFlightUnits[product, default: 0] += units }
      case .failed, .cancelled: break
      }
    }

    let inFlight = inputs.orders.filter { $0.outcome == .inFlight }
    if !inFlight.isEmpty {
      violations.append(
        Violation(
          kind: .unsettled,
          detail: "\(inFlight.count) orders still PENDING or AWAITING_PAYMENT after the run (e.g. \(inFlight[0].id))"))
    }

    var totalSold: Int64 = 0
    var totalOnOrders: Int64 = 0
    for product in inputs.before.keys.sorted() {
      let before = inputs.before[product]!
      guard let after = inputs.after[product] else {
        violations.append(Violation(kind: .oversold, detail: "product \(product): no stock read back after the run"))
        continue
      }
      let sold = before.onHand - after.onHand
      let onOrders = soldUnits[product] ?? 0
      totalSold += sold
      totalOnOrders += onOrders
      if after.onHand < 0 || after.reserved < 0 || after.reserved > after.onHand {
        violations.append(
          Violation(kind: .oversold, detail: "product \(product): on hand \(after.onHand), reserved \(after.reserved)"))
      }
      if onOrders > before.onHand {
        violations.append(
          Violation(
            kind: .oversold,
            detail: "product \(product): \(onOrders) units on confirmed orders, only \(before.onHand) were on hand"))
      }
      if sold != onOrders {
        violations.append(
          Violation(
            kind: .soldUnitsMismatch,
            detail: "product \(product): on hand fell by \(sold) (\(before.onHand) -> \(after.onHand)), confirmed orders hold \(onOrders)"))
      }
      // Reservations that were there before may have expired since; new ones need an order.
      let held = after.reserved - before.reserved
      let explained = inFlightUnits[product] ?? 0
      if held > explained {
        violations.append(
          Violation(
            kind: .strandedStock,
            detail: "product \(product): \(held) more units reserved than before the run, \(explained) on orders in flight"))
      }
    }

    for id in inputs.accepted.sorted() {
      guard let order = byID[id] else {
        violations.append(Violation(kind: .acceptedWithoutOrder, detail: "checkout answered OK with order \(id), which ListOrders does not have"))
        continue
      }
      if order.outcome == .failed {
        violations.append(Violation(kind: .acceptedWithoutOrder, detail: "checkout answered OK with order \(id), which is FAILED"))
      }
    }
    for order in inputs.orders where order.outcome == .sold && order.charge != .live {
      violations.append(
        Violation(kind: .confirmedWithoutCharge, detail: "order \(order.id) is confirmed, its payment \(order.paymentID.isEmpty ? "(none)" : order.paymentID) holds no money"))
    }

    for id in inputs.rejected.sorted() {
      if let order = byID[id], order.outcome == .sold {
        violations.append(Violation(kind: .failedCharged, detail: "checkout failed with order \(id), which is confirmed"))
      }
    }
    var failed = 0
    for order in inputs.orders where order.outcome == .failed || order.outcome == .cancelled {
      failed += 1
      if !order.reservationID.isEmpty, let status = inputs.reservations[order.reservationID],
        status == "ACTIVE" || status == "COMMITTED"
      {
        violations.append(
          Violation(kind: .failedHoldsStock, detail: "order \(order.id) is \(order.outcome), its reservation \(order.reservationID) is \(status)"))
      }
      let charges = (inputs.failedOrderCharges[order.id] ?? []) + [order.charge]
      if charges.contains(.live) {
        violations.append(Violation(kind: .failedCharged, detail: "order \(order.id) is \(order.outcome) and a payment of it holds money"))
      }
    }

    return Report(
      violations: violations, products: inputs.before.count, orders: inputs.orders.count,
      soldOrders: inputs.orders.filter { $0.outcome == .sold }.count, failedOrders: failed, unitsSold: totalSold,
      unitsOnSoldOrders: totalOnOrders)
  }
}
