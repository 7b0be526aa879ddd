import LoadCore
import RPC
import Testing

@testable import loadgen

/// The commerce scenarios end to end: every service hosted as `emporium serve` hosts them, on a
/// seeded database; short closed runs of checkout, browse and a mix of the two, each of whose
/// steps is recorded as its own operation beside the whole journey.
@Suite struct ScenarioRunTests {
  /// Journeys per operation and status in `result`.
  static func counts(_ result: LoadResult) -> [OperationKey: UInt64] { result.operations.mapValues(\.count) }

  @Test func checkoutBrowseAndMixRecordEveryStep() async throws {
    try await withSeededDeployment("loadgen_scenarios", products: 6, users: 12, seed: 5) { manifest, clients in
      var settings = ScenarioSettings()
      settings.customers = 4
      settings.products = 6
      settings.zipf = 1.1
      settings.setStock = true
      settings.mix = [("checkout", 1), ("browse", 1)]
      // Closed runs of a moment: every user's first journey runs whatever the machine's speed,
      // and the engine waits for every journey it started.
      func run(_ name: String, users: Int) async throws -> [OperationKey: UInt64] {
        let scenario = try await Scenarios.make(name, settings: settings, clients: clients, manifest: { manifest }, log: { _ in })
        let engine = LoadEngine(
          configuration: LoadRunConfiguration(model: .closed(users: users, thinkTime: nil), warmup: .zero, duration: .milliseconds(300)),
          classify: Scenarios.classify)
        return Self.counts(await engine.run(journey: scenario.name) { context in try await scenario.journey(context) })
      }

      let checkout = try await run("checkout", users: 2)
      let bought = checkout[OperationKey(operation: "checkout", status: "OK")] ?? 0
      #expect(bought >= 2)
      let checkoutFailed = checkout.filter { !$0.key.isOK }
      #expect(checkoutFailed.isEmpty, "\(checkoutFailed)")
      for step in ["login", "search", "product", "add_to_cart", "checkout"] {
        #expect(checkout[OperationKey(operation: "checkout." + step, status: "OK")] == bought, "checkout.\(step)")
      }
      #expect(settings.ledger.accepted.count >= Int(bought))

      let browse = try await run("browse", users: 2)
      let browsed = browse[OperationKey(operation: "browse", status: "OK")] ?? 0
      #expect(browsed >= 2)
      let browseFailed = browse.filter { !$0.key.isOK }
      #expect(browseFailed.isEmpty, "\(browseFailed)")
      #expect(browse[OperationKey(operation: "browse.search", status: "OK")] == browsed)
      #expect(browse[OperationKey(operation: "browse.product", status: "OK")] == 2 * browsed)

      // The mix names each journey after the part it ran. Its choices are seeded by the
      // journey's number, and the first journeys of these four users take both parts.
      let mix = try await run("mix", users: 4)
      let mixFailed = mix.filter { !$0.key.isOK }
      #expect(mixFailed.isEmpty, "\(mixFailed)")
      #expect(Set(mix.keys.map(\.operation)).isSubset(of: [
        "checkout", "checkout.login", "checkout.search", "checkout.product", "checkout.add_to_cart", "checkout.checkout",
        "browse", "browse.search", "browse.product",
      ]))
      #expect((mix[OperationKey(operation: "checkout", status: "OK")] ?? 0) > 0)
      #expect((mix[OperationKey(operation: "browse", status: "OK")] ?? 0) > 0)
    }
  }
}
