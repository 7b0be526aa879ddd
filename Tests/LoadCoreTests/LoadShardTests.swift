import Testing

@testable import LoadCore

/// `--shard i/N`: N processes share one load exactly.
@Suite struct LoadShardTests {
  static func shards(_ count: Int) -> [LoadShard] { (1...count).map { LoadShard(index: $0, count: count) } }

  @Test func parsesOnlyIOfN() {
    #expect(LoadShard(parsing: "2/4") == LoadShard(index: 2, count: 4))
    #expect(LoadShard(parsing: "1/1") == LoadShard(index: 1, count: 1))
    for bad in ["0/3", "4/3", "3", "1/0", "-1/2", "a/b", "1/2/3", "", "/2", "1/"] {
      #expect(LoadShard(parsing: bad) == nil, "\(bad)")
    }
  }

  @Test func usersAndSlicesAddUpExactly() {
    for count in 1...9 {
      for total in 0...60 {
        let shards = Self.shards(count)
        #expect(shards.map { $0.share(of: total) }.reduce(0, +) == total)
        // The remainder goes one each to the first shards: no two shares differ by more than one.
        let shares = shards.map { $0.share(of: total) }
        #expect(shares.max()! - shares.min()! <= 1)
        // Slices: contiguous, in shard order, disjoint, covering 0..<total.
        let slices = shards.map { $0.slice(of: total) }
        #expect(slices.flatMap { Array($0) } == Array(0..<total))
        #expect(zip(slices, shares).allSatisfy { $0.count == $1 })
      }
    }
  }

  @Test func modelsSplitAndAddUp() throws {
    let closed = LoadModel.closed(users: 10, thinkTime: .milliseconds(100))
    let users = try Self.shards(3).map { shard -> Int in
      guard case .closed(let users, let think) = try shard.share(of: closed) else { throw ShardError(message: "model") }
      #expect(think == .milliseconds(100))
      return users
    }
    #expect(users == [4, 3, 3])
    #expect(throws: ShardError.self) {
      try LoadShard(index: 1, count: 4).share(of: LoadModel.closed(users: 3, thinkTime: nil))
    }

    let open = OpenModel(rate: 1_000, rampTo: 2_500, maxInFlight: 100, seed: 7)
    let parts = try Self.shards(3).map { shard -> OpenModel in
      guard case .open(let model) = try shard.share(of: LoadModel.open(open)) else {
        throw ShardError(message: "model")
      }
      return model
    }
    #expect(abs(parts.map(\.rate).reduce(0, +) - 1_000) < 1e-9)
    #expect(abs(parts.compactMap(\.rampTo).reduce(0, +) - 2_500) < 1e-9)
    #expect(parts.map(\.maxInFlight) == [34, 33, 33])
    // Shard 1 keeps the seed (so 1/1 is the unsharded run); every shard has its own.
    #expect(parts[0].seed == 7)
    #expect(Set(parts.map(\.seed)).count == 3)
    #expect(try LoadShard(index: 1, count: 1).share(of: LoadModel.open(open)) == .open(open))
  }

  /// Shards' Poisson arrivals are not in lockstep: no two shards share an arrival time, and none
  /// is another's sequence shifted by a few arrivals (as seeds one SplitMix64 step apart would be).
  @Test func shardsArriveOnSchedulesOfTheirOwn() throws {
    let schedules = Self.shards(4).map { shard -> [UInt64] in
      var schedule = ArrivalSchedule(
        rate: 250, spacing: .poisson, warmup: 0, duration: 2_000_000_000, seed: shard.seed(1))
      var times: [UInt64] = []
      while let time = schedule.next() { times.append(time) }
      return times
    }
    for (i, a) in schedules.enumerated() {
      for b in schedules[(i + 1)...] {
        #expect(Set(a.dropFirst()).isDisjoint(with: b.dropFirst()))  // all start at 0
        let gapsA = zip(a, a.dropFirst()).map { $1 - $0 }, gapsB = zip(b, b.dropFirst()).map { $1 - $0 }
        for shift in 0..<8 {
          #expect(Array(gapsA.dropFirst(shift).prefix(20)) != Array(gapsB.prefix(20)))
          #expect(Array(gapsB.dropFirst(shift).prefix(20)) != Array(gapsA.prefix(20)))
        }
      }
    }
  }
}
