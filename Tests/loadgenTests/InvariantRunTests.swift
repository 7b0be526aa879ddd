import LoadCore
import RPC
import Testing

@testable import loadgen

/// The invariant check after a real hot-product run: every service hosted as `emporium serve`
/// hosts them, on a seeded database, a flash sale that sells out; the check reads everything
/// back through RPC as the seed's admin and finds the books balanced.
@Suite struct InvariantRunTests {
  @Test func aSoldOutFlashSaleBalances() async throws {
    try await withSeededDeployment("loadgen_invariants", products: 3, users: 12, seed: 11) { manifest, clients in
      var settings = ScenarioSettings()
      settings.stock = 5
      settings.customers = 8
      let scenario = try await Scenarios.make(
        "hot-product", settings: settings, clients: clients, manifest: { manifest }, log: { _ in })
      let guarded = try #require(
        try await InvariantGuard.forRun(
          of: scenario, clients: clients, manifest: manifest, ledger: settings.ledger, callTimeout: .seconds(30),
          log: { _ in }))
      #expect(guarded.before[scenario.stockedProducts[0]] == InvariantCheck.Stock(onHand: 5, reserved: 0))
      // Six buyers of five units: at least one of them meets the sold-out answer.
      let engine = LoadEngine(
        configuration: LoadRunConfiguration(model: .closed(users: 6, thinkTime: nil), warmup: .zero, duration: .milliseconds(500)),
        classify: Scenarios.classify)
      _ = await engine.run(journey: scenario.name) { context in try await scenario.journey(context) }
      let report = try await guarded.check(settleTimeout: .seconds(60), log: { _ in })
      #expect(report.passed, "\(report.text())")
      #expect(report.unitsSold == 5)
      #expect(report.unitsOnSoldOrders == 5)
      #expect(report.soldOrders == 5)
      #expect(settings.ledger.accepted.count == 5)
      #expect(report.failedOrders >= 1)
      #expect(settings.ledger.rejected.count == report.failedOrders)
    }
  }

  /// Phases of one hot-product scenario (capacity's steps, sweep's points): the stock is set back
  /// before each, or with `--no-refill` left to run down, so later phases meet the sold-out path.
  @Test func theHotProductsStockIsSetBackBetweenPhases() async throws {
    try await withSeededDeployment("loadgen_refill", products: 3, users: 12, seed: 12) { manifest, clients in
      // Two phases of six buyers of three units: every buyer's first journey runs, so each
      // phase sells whatever stock it starts with.
      func unitsSoldPerPhase(refill: Bool) async throws -> [Int] {
        var settings = ScenarioSettings()
        settings.stock = 3
        settings.customers = 6
        settings.refillStock = refill
        let scenario = try await Scenarios.make(
          "hot-product", settings: settings, clients: clients, manifest: { manifest }, log: { _ in })
        var sold: [Int] = []
        for phase in 0..<2 {
          if phase > 0 { try await scenario.refill(log: { _ in }) }
          let before = settings.ledger.accepted.count
          let engine = LoadEngine(
            configuration: LoadRunConfiguration(model: .closed(users: 6, thinkTime: nil), warmup: .zero, duration: .milliseconds(300)),
            classify: Scenarios.classify)
          _ = await engine.run(journey: scenario.name) { context in try await scenario.journey(context) }
          sold.append(settings.ledger.accepted.count - before)
        }
        return sold
      }
      let refilled = try await unitsSoldPerPhase(refill: true)
      let runDown = try await unitsSoldPerPhase(refill: false)
      #expect(refilled == [3, 3])
      #expect(runDown == [3, 0])
    }
  }
}
