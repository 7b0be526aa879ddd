public import Histogram
import Synchronization

/// Where a run's calls are recorded: one shard per worker, each with its own lock and its own
/// histograms (per operation and status, corrected and uncorrected, for the measured window;
/// corrected per interval for the time series, every call and the measured ones apart). Workers record into their own shard, so they
/// hardly ever contend; totals and intervals merge the shards exactly (element-wise sums of
/// histograms of one layout).
public final class LoadRecorder: Sendable {
  /// Everything one shard keeps for one operation and status: one dictionary entry, so a call
  /// costs one lookup (it is done twice per journey of one call, at every arrival).
  struct Entry {
    var totals = LatencyPair()
    var interval = LatencyHistogram.latency()
    var measuredInterval = LatencyHistogram.latency()
  }

  struct ShardState {
    var entries: [OperationKey: Entry] = [:]
    /// Operation names in the order this shard first saw them (steps in journey order).
    var order: [String] = []
    var seen: Set<String> = []
    /// The last few keys recorded and their entries' indices: a journey of one call records
    /// the same two keys every time, and comparing short strings is cheaper than hashing them.
    /// Emptied whenever an entry is added (which may move the others).
    var recent: [(key: OperationKey, index: Dictionary<OperationKey, Entry>.Index)] = []
  }

  final class Shard: Sendable {
    let state = Mutex(ShardState())
  }

  private let shards: [Shard]

  /// A recorder of `shards` shards (workers map onto them by index, modulo the count).
  public init(shards: Int) {
    precondition(shards > 0, "a recorder needs at least one shard")
    self.shards = (0..<shards).map { _ in Shard() }
  }

  public var shardCount: Int { shards.count }

  /// Records one call (times in nanoseconds) in `worker`'s shard: into the interval always, and
  /// into the totals when `measured`.
  public func record(
    worker: Int, key: OperationKey, corrected: UInt64, uncorrected: UInt64, measured: Bool
  ) {
    shards[worker % shards.count].state.withLock { state in
      Self.record(&state, key: key, corrected: corrected, uncorrected: uncorrected, measured: measured)
    }
  }

  private static func record(
    _ state: inout ShardState, key: OperationKey, corrected: UInt64, uncorrected: UInt64, measured: Bool
  ) {
    let index: Dictionary<OperationKey, Entry>.Index
    if let cached = state.recent.first(where: { $0.key == key }) {
      index = cached.index
    } else if let known = state.entries.index(forKey: key) {
      index = known
      if state.recent.count == 4 { state.recent.removeFirst() }
      state.recent.append((key, known))
    } else {
      if state.seen.insert(key.operation).inserted { state.order.append(key.operation) }
      state.entries[key] = Entry()
      index = state.entries.index(forKey: key)!
      state.recent.removeAll(keepingCapacity: true)
    }
    state.entries.values[index].interval.recordNanoseconds(corrected)
    if measured {
      state.entries.values[index].measuredInterval.recordNanoseconds(corrected)
      state.entries.values[index].totals.record(corrected: corrected, uncorrected: uncorrected)
    }
  }

  /// The interval histograms of every shard merged, each shard's then reset (so each call is
  /// in exactly one interval): every call's, and the measured calls' alone.
  public func takeInterval() -> (all: [OperationKey: LatencyHistogram], measured: [OperationKey: LatencyHistogram]) {
    var all: [OperationKey: LatencyHistogram] = [:]
    var measured: [OperationKey: LatencyHistogram] = [:]
    for shard in shards {
      shard.state.withLock { state in
        for index in state.entries.indices {
          let key = state.entries.keys[index]
          if state.entries.values[index].interval.totalCount > 0 {
            all[key, default: .latency()].add(state.entries.values[index].interval)
            state.entries.values[index].interval.reset()
          }
          if state.entries.values[index].measuredInterval.totalCount > 0 {
            measured[key, default: .latency()].add(state.entries.values[index].measuredInterval)
            state.entries.values[index].measuredInterval.reset()
          }
        }
      }
    }
    return (all, measured)
  }

  /// Operation names in the order they were first recorded (shard by shard): a journey's steps
  /// come in the order the journey takes them.
  public func operationOrder() -> [String] {
    var order: [String] = []
    var seen: Set<String> = []
    for shard in shards {
      for name in shard.state.withLock({ $0.order }) where seen.insert(name).inserted { order.append(name) }
    }
    return order
  }

  /// Each shard's totals, unmerged (one dictionary per worker).
  public func totalsPerWorker() -> [[OperationKey: LatencyPair]] {
    shards.map { shard in
      shard.state.withLock { state in
        state.entries.compactMapValues { $0.totals.count > 0 ? $0.totals : nil }
      }
    }
  }

  /// The measured totals of every shard, merged exactly.
  public func totals() -> [OperationKey: LatencyPair] {
    LoadRecorder.merge(totalsPerWorker())
  }

  /// Merges per-worker (or per-process) totals: the histograms of each key are added.
  public static func merge(_ parts: [[OperationKey: LatencyPair]]) -> [OperationKey: LatencyPair] {
    var merged: [OperationKey: LatencyPair] = [:]
    for part in parts {
      for (key, pair) in part { merged[key, default: LatencyPair()].add(pair) }
    }
    return merged
  }
}
