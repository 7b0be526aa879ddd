import Foundation
import Synchronization
import Testing

@testable import LoadCore

@testable import loadgen

/// `loadgen run --shard i/N`: each shard its own customers, its own choices, its share of the
/// model; only shard 1 sets stock.
@Suite struct RunShardingTests {
  static func manifest(customers: Int) throws -> LoadManifest {
    var users = [#"{"email":"admin@x","id":"a1","password":"p","role":"ADMIN"}"#]
    users += (0..<customers).map { #"{"email":"c\#($0)@x","id":"c\#($0)","password":"p","role":"CUSTOMER"}"# }
    let text = #"{"format":1,"productIds":["p1"],"leafCategoryIds":[],"users":[\#(users.joined(separator: ","))]}"#
    return try JSONDecoder().decode(LoadManifest.self, from: Data(text.utf8))
  }

  @Test func shardsTakeDisjointSlicesOfTheCustomers() throws {
    let manifest = try Self.manifest(customers: 50)
    // --customers 20 over 3 shards: 7, 7 and 6 of the first 20, none shared, none left out.
    let slices = try (1...3).map { index in
      try RunSharding("\(index)/3").manifest(manifest, customers: 20)
    }
    #expect(slices.map(\.customers.count) == [7, 7, 6])
    let ids = slices.flatMap { $0.customers.map(\.id) }
    #expect(ids == (0..<20).map { "c\($0)" })
    #expect(slices.allSatisfy { $0.admins.map(\.id) == ["a1"] })  // shard 1 sets stock as the admin
    // Without --shard the manifest is untouched.
    #expect(try RunSharding(nil).manifest(manifest, customers: 20).customers.count == 50)
    // More shards than customers: a shard would have no one to log in as.
    #expect(throws: (any Error).self) { try RunSharding("4/4").manifest(Self.manifest(customers: 3), customers: 100) }
    #expect(throws: (any Error).self) { try RunSharding("5/4") }
  }

  @Test func onlyShardOneSetsStock() throws {
    #expect(try RunSharding("1/3").settings(ScenarioSettings()).setsStock)
    #expect(try !RunSharding("2/3").settings(ScenarioSettings()).setsStock)
    #expect(try RunSharding(nil).settings(ScenarioSettings()).setsStock)
  }

  @Test func shardsAfterTheFirstMakeTheirOwnChoices() async throws {
    let scenario = DrawingScenario()
    // The same journey (same sequence number) in the unsharded run and in three shards.
    func draw(_ shard: String?) async throws -> UInt64 {
      let context = JourneyContext(
        sequence: 41, user: 41, intendedStart: 0, journey: "drawing", measured: true, recorder: LoadRecorder(shards: 1),
        clock: SystemLoadClock(), classify: LoadEngine.defaultClassify)
      try await RunSharding(shard).scenario(scenario).journey(context)
      return scenario.drawn.withLock { $0 }
    }
    let unsharded = try await draw(nil)
    #expect(try await draw("1/3") == unsharded)  // shard 1 chooses as an unsharded run does
    let second = try await draw("2/3"), third = try await draw("3/3")
    #expect(Set([unsharded, second, third]).count == 3)
    #expect(try await draw("2/3") == second)  // and the same each time
  }
}

/// A scenario that keeps the first number its last journey drew.
struct DrawingScenario: Scenario {
  let drawn = LockedValue()
  var name: String { "drawing" }

  func journey(_ context: JourneyContext) async throws {
    let value = context.random.next()
    drawn.withLock { $0 = value }
  }
}

/// A number behind a lock, shareable.
final class LockedValue: Sendable {
  private let mutex = Mutex<UInt64>(0)

  func withLock<T>(_ body: (inout UInt64) -> T) -> T { mutex.withLock { body(&$0) } }
}
