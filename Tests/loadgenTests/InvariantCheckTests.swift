import Foundation
import Synchronization
import Testing

@testable import loadgen

/// The business invariant check, against a deliberately broken shop (an in-memory system that
/// can oversell, strand stock or keep charges) and against consistent figures.
@Suite struct InvariantCheckTests {
  /// A tiny shop whose read-back the check sees. Each flag breaks one rule the way a buggy
  /// inventory or saga would.
  final class BrokenShop: InvariantReadBack {
    struct Flaws {
      /// Sell without checking stock.
      var oversells = false
      /// Keep a failed checkout's reservation active.
      var keepsFailedReservations = false
      /// Leave a failed checkout's payment authorized.
      var keepsFailedCharges = false
      /// Drop an accepted order from the listing.
      var losesOrders = false
      /// Take units from on hand without an order.
      var leaks = false
    }
    struct State {
      var stock: [String: InvariantCheck.Stock] = [:]
      var orders: [InvariantCheck.Order] = []
      var reservations: [String: String] = [:]
      var payments: [String: [InvariantCheck.Charge]] = [:]
    }
    let flaws: Flaws
    let state = Mutex(State())
    let ledger = CheckoutLedger()

    init(_ flaws: Flaws = Flaws(), stock: [String: Int64]) {
      self.flaws = flaws
      state.withLock { state in
        for (product, units) in stock { state.stock[product] = .init(onHand: units, reserved: 0) }
      }
    }

    /// One checkout of `units` of `product`: sold when in stock (always, when it oversells),
    /// failed (reservation released, payment voided) otherwise. Records it in the ledger as
    /// loadgen would.
    @discardableResult
    func checkout(_ product: String, units: Int64 = 1) -> Bool {
      let id = UUID().uuidString
      let sold: Bool = state.withLock { state in
        let stock = state.stock[product]!
        let sold = flaws.oversells || stock.onHand - stock.reserved >= units
        let reservation = "r-" + id
        if sold {
          state.stock[product]!.onHand -= units
          state.reservations[reservation] = "COMMITTED"
        } else {
          state.reservations[reservation] = flaws.keepsFailedReservations ? "ACTIVE" : "RELEASED"
          if flaws.keepsFailedReservations { state.stock[product]!.reserved += units }
        }
        let charge: InvariantCheck.Charge = sold || flaws.keepsFailedCharges ? .live : .none
        state.payments[id] = [charge]
        if !(sold && flaws.losesOrders) {
          state.orders.append(
            .init(
              id: id, outcome: sold ? .sold : .failed, units: [product: units], paymentID: "p-" + id, charge: charge,
              reservationID: reservation))
        }
        if flaws.leaks { state.stock[product]!.onHand -= 1 }
        return sold
      }
      if sold { ledger.recordAccepted(id) } else { ledger.recordRejected(id) }
      return sold
    }

    func stock(_ productIDs: [String]) async throws -> [String: InvariantCheck.Stock] {
      state.withLock { state in state.stock.filter { productIDs.contains($0.key) } }
    }
    func orders(since: Date, inFlightOnly: Bool) async throws -> [InvariantCheck.Order] {
      state.withLock { state in state.orders.filter { !inFlightOnly || $0.outcome == .inFlight } }
    }
    func reservationStatuses(_ ids: [String]) async throws -> [String: String] {
      state.withLock { state in state.reservations.filter { ids.contains($0.key) } }
    }
    func charges(ofOrders ids: [String]) async throws -> [String: [InvariantCheck.Charge]] {
      state.withLock { state in state.payments.filter { ids.contains($0.key) } }
    }
  }

  /// 15 buyers of `hot` (10 units), one of 2 units of `quiet` (5 units): through the guard, as
  /// a run uses it.
  static func check(_ flaws: BrokenShop.Flaws, hot: Int64 = 10) async throws -> InvariantCheck.Report {
    let shop = BrokenShop(flaws, stock: ["hot": hot, "quiet": 5])
    let guarded = try await InvariantGuard.prepare(
      readBack: shop, products: ["hot", "quiet"], ledger: shop.ledger, log: { _ in })
    for _ in 0..<15 { shop.checkout("hot") }
    shop.checkout("quiet", units: 2)
    return try await guarded.check(settleTimeout: .seconds(1), log: { _ in })
  }

  @Test func aCorrectShopPasses() async throws {
    let report = try await Self.check(.init())
    #expect(report.passed, "\(report.violations)")
    #expect(report.unitsSold == 12)
    #expect(report.unitsOnSoldOrders == 12)
    #expect(report.soldOrders == 11)
    #expect(report.failedOrders == 5)
    #expect(report.text().hasPrefix("invariants: PASSED"))
  }

  @Test func aShopThatOversellsFailsTheRun() async throws {
    let report = try await Self.check(.init(oversells: true))
    #expect(!report.passed)
    let oversold = report.violations.filter { $0.kind == .oversold }
    #expect(oversold.count == 2)  // on hand below zero, and more on orders than was stocked
    #expect(oversold.allSatisfy { $0.detail.hasPrefix("product hot:") })
    #expect(report.text().hasPrefix("invariants: FAILED"))
    #expect(report.text().contains("[FAIL] no product oversold"))
    // The run exits with the invariant check's status, which CI can gate on.
    #expect(RunCommand.exitStatus(interrupted: false, invariants: report) == InvariantCheck.exitCode)
    #expect(RunCommand.exitStatus(interrupted: false, invariants: try await Self.check(.init())) == nil)
  }

  @Test func aFailedCheckoutThatHoldsStockOrMoneyFails() async throws {
    let held = try await Self.check(.init(keepsFailedReservations: true))
    #expect(held.violations.filter { $0.kind == .failedHoldsStock }.count == 5)
    #expect(held.violations.contains { $0.kind == .strandedStock })
    let charged = try await Self.check(.init(keepsFailedCharges: true))
    #expect(charged.violations.map(\.kind) == Array(repeating: .failedCharged, count: 5))
  }

  @Test func anAcceptedCheckoutWithoutItsOrderFails() async throws {
    let report = try await Self.check(.init(losesOrders: true))
    #expect(report.violations.filter { $0.kind == .acceptedWithoutOrder }.count == 11)
    // Its units left the shelf without an order to show for them.
    #expect(report.violations.contains { $0.kind == .soldUnitsMismatch })
  }

  @Test func unitsThatLeaveWithoutAnOrderFail() async throws {
    // Enough stock that every checkout sells: each takes its unit plus one more.
    let report = try await Self.check(.init(leaks: true), hot: 100)
    #expect(report.violations.map(\.kind) == [.soldUnitsMismatch, .soldUnitsMismatch])
    #expect(report.violations[0].detail.contains("on hand fell by 30"))
  }

  @Test func ordersStillInFlightAreReportedNotJudgedAsSold() {
    let inputs = InvariantCheck.Inputs(
      before: ["p": .init(onHand: 5, reserved: 0)], after: ["p": .init(onHand: 5, reserved: 2)],
      orders: [.init(id: "o1", outcome: .inFlight, units: ["p": 2], paymentID: "", charge: .none, reservationID: "r1")],
      accepted: [], rejected: [], reservations: [:], failedOrderCharges: [:])
    let report = InvariantCheck.evaluate(inputs)
    // Its reserved units are explained by the order in flight; the run still fails, unsettled.
    #expect(report.violations.map(\.kind) == [.unsettled])
  }

  @Test func aRejectedCheckoutWhoseOrderWasConfirmedFails() {
    let inputs = InvariantCheck.Inputs(
      before: ["p": .init(onHand: 5, reserved: 0)], after: ["p": .init(onHand: 4, reserved: 0)],
      orders: [.init(id: "o1", outcome: .sold, units: ["p": 1], paymentID: "x", charge: .live, reservationID: "r1")],
      accepted: [], rejected: ["o1"], reservations: [:], failedOrderCharges: [:])
    #expect(InvariantCheck.evaluate(inputs).violations.map(\.kind) == [.failedCharged])
  }
}
