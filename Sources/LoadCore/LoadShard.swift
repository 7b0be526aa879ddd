/// One process's share of a load that N processes run together (`loadgen run --shard i/N`).
///
/// Shares are exact: the N shards' users (or any count split with ``share(of:)-(Int)``) add up
/// to the whole, the first `count % N` shards taking one more; ``slice(of:)`` gives each shard
/// its own contiguous, disjoint range of N-split items (accounts, say), together covering all.
/// Rates are divided by N. Shard 1 keeps the seeds as given, so `--shard 1/1` is the unsharded
/// run; the others derive their own, so shards' Poisson arrivals are not in lockstep.
public struct LoadShard: Sendable, Codable, Hashable, CustomStringConvertible {
  /// 1-based: 1 through `count`.
  public var index: Int
  public var count: Int

  public init(index: Int, count: Int) {
    precondition(count >= 1 && (1...count).contains(index), "a shard is i/N with 1 <= i <= N")
    self.index = index
    self.count = count
  }

  /// Reads "i/N" (1 <= i <= N); nil for anything else.
  public init?(parsing text: String) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
      (1...count).contains(index)
    else { return nil }
    self.init(index: index, count: count)
  }

  public var description: String { "\(index)/\(count)" }

  /// This shard's part of `total` items: `total / N`, plus one for the first `total % N` shards.
  public func share(of total: Int) -> Int {
    total / count + (index <= total % count ? 1 : 0)
  }

  /// This shard's part of a rate: `rate / N`.
  public func share(of rate: Double) -> Double {
    rate / Double(count)
  }

  /// This shard's range of `total` items: contiguous, `share(of: total)` long, disjoint from
  /// every other shard's, the N ranges covering `0..<total` in shard order.
  public func slice(of total: Int) -> Range<Int> {
    let lower = (index - 1) * (total / count) + min(index - 1, total % count)
    return lower..<(lower + share(of: total))
  }

  /// A seed of this shard's own: `seed` itself for shard 1, a mix of it and the shard's index
  /// for the others (not a step of the same SplitMix64 sequence, which would be one arrival
  /// behind shard 1's).
  public func seed(_ seed: UInt64) -> UInt64 {
    guard index > 1 else { return seed }
    var mixer = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
    return mixer.next()
  }

  /// The model this shard runs: closed, its share of the users (the think time unchanged);
  /// open, its share of the rate and of `rampTo`, its share of `maxInFlight` (at least 1), and
  /// its own seed. Throws ``ShardError`` when a shard would get no users.
  public func share(of model: LoadModel) throws -> LoadModel {
    switch model {
    case .closed(let users, let thinkTime):
      guard users >= count else { throw ShardError(message: "\(users) users cannot be split into \(count) shards") }
      return .closed(users: share(of: users), thinkTime: thinkTime)
    case .open(var open):
      open.rate = share(of: open.rate)
      open.rampTo = open.rampTo.map { share(of: $0) }
      open.maxInFlight = max(1, share(of: open.maxInFlight))
      open.seed = seed(open.seed)
      return .open(open)
    }
  }
}

/// A load that cannot be split as asked.
public struct ShardError: Error, Sendable, CustomStringConvertible {
  public var message: String
  public var description: String { message }
}
