public import CoreMetrics
public import Logging
public import Postgres
import Synchronization

/// A streaming replica of the process's database, and the rule that decides which reads it may
/// serve: read-your-writes per caller.
///
/// A service that reads from the replica wraps every write in ``write(by:_:)`` and asks
/// ``read(for:)`` where each read goes:
///
/// - A write runs on the primary. Once it returns, the primary's WAL insert position
///   (`pg_current_wal_insert_lsn()`, past the write's commit record) is recorded as the caller's
///   *mark*. Marks are keyed by the end user (a user, or the user a service acts for) or else the
///   principal, live ``Configuration/markLifetime`` at most, and are bounded in number
///   (``Configuration/maximumMarks``, the oldest dropped first).
/// - A read by a caller without a mark goes to the replica. A read by a caller with a mark goes
///   to the replica only once the replica has replayed past the mark
///   (`pg_last_wal_replay_lsn()`, asked when the last known position is not enough), and then
///   the mark is forgotten; until then it goes to the primary. So a caller's own write is
///   visible to that caller's next read; other callers may read from a replica that trails the
///   primary by its replication lag.
/// - Anonymous callers have no marks: they always read from the replica.
/// - While the last lag measurement failed (the replica is unreachable), every read goes to the
///   primary.
///
/// Caches filled from reads (product pages, search results) must not keep what a lagging replica
/// returned after a write invalidated it: ``mayCache(_:)`` says whether a read's result may be
/// stored — always for the primary; for the replica only when no write is in flight and the
/// replica had replayed every write this process knows of (its own, and those announced by
/// other processes through ``write(by:_:)`` with a nil caller) before the read began.
///
/// ``lagMonitor(every:logger:)`` measures the replication lag periodically and exports it as
/// gauges (``lagBytesMetric``, ``lagSecondsMetric``); reads are counted by where they went
/// (``readsMetric``). The owner (the composition root) closes both pools.
public final class ReadReplica: Sendable {
  /// Gauge: bytes of WAL the primary has written that the replica has not replayed.
  public static let lagBytesMetric = "emporium_database_replica_lag_bytes"
  /// Gauge: seconds since the last transaction the replica replayed committed on the primary,
  /// while it has WAL left to replay (0 when it has replayed all it received).
  public static let lagSecondsMetric = "emporium_database_replica_lag_seconds"
  /// Counter, label `target` (`replica` or `primary`): reads routed by ``read(for:)``.
  public static let readsMetric = "emporium_database_replica_reads_total"

  /// How marks are kept.
  public struct Configuration: Sendable {
    /// How long a caller's mark is kept at most. Past it, the caller's reads go to the replica
    /// again even if it has not replayed the write (only a replica lagging this far behind
    /// serves stale reads to their writer).
    public var markLifetime: Duration = .seconds(60)
    /// The most marks kept; past it, expired marks are dropped, then the oldest.
    public var maximumMarks = 10_000

    public init() {}
  }

  /// Where one read goes (``read(for:)``), and what the replica had replayed before it.
  public struct Read: Sendable {
    /// The pool to run the read on.
    public let pool: PostgresPool
    /// True when ``pool`` is the replica.
    public let onReplica: Bool
    /// The replica's replay position known before the read (for ``mayCache(_:)``).
    let replayed: Int64
  }

  /// A measurement of the replication lag.
  public struct Lag: Sendable, Hashable {
    /// Bytes of WAL written on the primary and not yet replayed on the replica.
    public var bytes: Int64
    /// Seconds since the commit of the last replayed transaction, while WAL is left to replay.
    public var seconds: Double
  }

  /// Counts of routed reads, for tests and operators.
  public struct Statistics: Sendable, Hashable {
    public var replicaReads = 0
    public var primaryReads = 0
    /// Marks held now.
    public var marks = 0
  }

  /// The primary's pool (every write, and reads that must see a caller's writes).
  public let primary: PostgresPool
  /// The replica's pool (read-only).
  public let replica: PostgresPool
  let configuration: Configuration

  private struct Mark {
    var position: Int64
    var at: ContinuousClock.Instant
  }

  private struct State {
    var marks: [String: Mark] = [:]
    /// The highest replay position seen on the replica.
    var replayed: Int64 = 0
    /// The highest primary position of a write this process knows of.
    var floor: Int64 = 0
    /// Writes begun and not yet given a position.
    var writesInFlight = 0
    /// A write whose position could not be read: nothing read from the replica is cached
    /// before this instant.
    var uncertainUntil: ContinuousClock.Instant?
    /// False while the last lag measurement failed.
    var healthy = true
    var statistics = Statistics()
  }

  private let state = Mutex(State())
  private let lagBytes: Gauge
  private let lagSeconds: Gauge
  private let replicaReads: Counter
  private let primaryReads: Counter

  /// - Parameters:
  ///   - primary: the primary's pool.
  ///   - replica: a pool of a streaming replica of the same database (read-only sessions).
  ///   - metricsFactory: where the lag gauges and read counters go; nil takes the factory
  ///     `MetricsSystem` has now (bootstrap first).
  public init(
    primary: PostgresPool, replica: PostgresPool, configuration: Configuration = .init(),
    metricsFactory: (any MetricsFactory)? = nil
  ) {
    self.primary = primary
    self.replica = replica
    self.configuration = configuration
    let factory = metricsFactory ?? MetricsSystem.factory
    self.lagBytes = Gauge(label: Self.lagBytesMetric, factory: factory)
    self.lagSeconds = Gauge(label: Self.lagSecondsMetric, factory: factory)
    self.replicaReads = Counter(label: Self.readsMetric, dimensions: [("target", "replica")], factory: factory)
    self.primaryReads = Counter(label: Self.readsMetric, dimensions: [("target", "primary")], factory: factory)
  }

  /// The key of a caller's marks: the end user (a user, or the user a service acts for), else
  /// the principal; nil for anonymous callers.
  static func key(_ caller: Principal?) -> String? {
    guard let caller else { return nil }
    return (caller.endUser ?? caller).description
  }

  // MARK: Writes

  /// Runs a write on the primary for `caller` (nil: no caller to mark, such as a change another
  /// process announced or background work), then records the primary's WAL position as the
  /// caller's mark and as the floor of what cached replica reads must have replayed.
  ///
  /// Results read from the replica are not cached while `body` runs. Whatever `body` throws is
  /// rethrown, and then no mark is made (a failed write changed nothing to read back).
  public func write<T>(by caller: Principal?, _ body: () async throws -> T) async throws -> T {
    state.withLock { $0.writesInFlight += 1 }
    let result: T
    do {
      result = try await body()
    } catch {
      state.withLock { $0.writesInFlight -= 1 }
      throw error
    }
    await noteWrite(by: Self.key(caller))
    return result
  }

  /// Records the primary's current position for `key` and the floor, ending one write in flight.
  private func noteWrite(by key: String?) async {
    let position = try? await currentPrimaryPosition()
    let now = ContinuousClock.now
    state.withLock { state in
      state.writesInFlight -= 1
      // An unknown position: the caller reads from the primary until its mark expires, and no
      // replica read is cached meanwhile.
      let mark = position ?? .max
      if position == nil { state.uncertainUntil = now.advanced(by: configuration.markLifetime) }
      state.floor = max(state.floor, position ?? state.floor)
      guard let key else { return }
      state.marks[key] = Mark(position: max(mark, state.marks[key]?.position ?? 0), at: now)
      if state.marks.count > configuration.maximumMarks { Self.trim(&state, now: now, configuration: configuration) }
    }
  }

  private static func trim(_ state: inout State, now: ContinuousClock.Instant, configuration: Configuration) {
    state.marks = state.marks.filter { now - $0.value.at < configuration.markLifetime }
    while state.marks.count > configuration.maximumMarks,
      let oldest = state.marks.min(by: { $0.value.at < $1.value.at })?.key
    {
      state.marks[oldest] = nil
    }
  }

  // MARK: Reads

  /// Where a read by `caller` goes (see the type's documentation for the rule).
  public func read(for caller: Principal?) async -> Read {
    let key = Self.key(caller)
    let now = ContinuousClock.now
    enum Decision { case replica(Int64), primary, ask(Int64) }
    let decision = state.withLock { state -> Decision in
      guard state.healthy else { return .primary }
      guard let key, let mark = state.marks[key] else { return .replica(state.replayed) }
      if now - mark.at >= configuration.markLifetime || mark.position <= state.replayed {
        state.marks[key] = nil
        return .replica(state.replayed)
      }
      return .ask(mark.position)
    }
    switch decision {
    case .replica(let replayed):
      return routed(Read(pool: replica, onReplica: true, replayed: replayed))
    case .primary:
      return routed(Read(pool: primary, onReplica: false, replayed: 0))
    case .ask(let mark):
      guard let replayed = try? await replayedPosition(), replayed >= mark else {
        return routed(Read(pool: primary, onReplica: false, replayed: 0))
      }
      state.withLock { state in
        if let key, let held = state.marks[key], held.position <= replayed { state.marks[key] = nil }
      }
      return routed(Read(pool: replica, onReplica: true, replayed: replayed))
    }
  }

  private func routed(_ read: Read) -> Read {
    state.withLock { state in
      if read.onReplica { state.statistics.replicaReads += 1 } else { state.statistics.primaryReads += 1 }
    }
    (read.onReplica ? replicaReads : primaryReads).increment()
    return read
  }

  /// Whether what `read` returned may be stored in a cache now: always from the primary; from
  /// the replica when no write is in flight and the replica had replayed every write this
  /// process knows of before the read began.
  public func mayCache(_ read: Read) -> Bool {
    guard read.onReplica else { return true }
    let now = ContinuousClock.now
    return state.withLock { state in
      state.writesInFlight == 0 && read.replayed >= state.floor && (state.uncertainUntil.map { now >= $0 } ?? true)
    }
  }

  /// Counts of routed reads and marks held.
  public var statistics: Statistics {
    state.withLock { state in
      var statistics = state.statistics
      statistics.marks = state.marks.count
      return statistics
    }
  }

  // MARK: Positions and lag

  /// The primary's WAL insert position, in bytes from 0/0 (past every commit made so far).
  public func currentPrimaryPosition() async throws -> Int64 {
    try await primary.query("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8").scalar(as: Int64.self) ?? 0
  }

  /// How far the replica has replayed, in bytes from 0/0; nil when it is not a standby. Also
  /// raises the position reads are routed by.
  public func replayedPosition() async throws -> Int64? {
    let position = try await replica.query("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8").scalar(as: Int64?.self) ?? nil
    if let position { state.withLock { $0.replayed = max($0.replayed, position) } }
    return position
  }

  /// Measures the lag (the replica first, then the primary's written position, so the bytes are
  /// never below the true lag), records it in the gauges, and marks the replica healthy; a
  /// failure marks it unhealthy (reads go to the primary) and is rethrown.
  @discardableResult
  public func measureLag() async throws -> Lag {
    do {
      guard
        let row = try await replica.query(
          """
          SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8,
            CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
              ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8
          """
        ).first,
        let replayed = try row.decode(0, as: Int64?.self)
      else {
        throw PostgresError(code: .malformedValue, message: "The replica database is not a standby (pg_last_wal_replay_lsn() is NULL).")
      }
      let seconds = try row.decode(1, as: Double.self)
      let written =
        try await primary.query("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8").scalar(as: Int64.self) ?? 0
      let lag = Lag(bytes: max(0, written - replayed), seconds: max(0, seconds))
      state.withLock { state in
        state.replayed = max(state.replayed, replayed)
        state.healthy = true
      }
      lagBytes.record(lag.bytes)
      lagSeconds.record(lag.seconds)
      return lag
    } catch {
      state.withLock { $0.healthy = false }
      throw error
    }
  }

  /// The background work that measures the lag every `interval` (a failed round is logged and
  /// routes reads to the primary until a round succeeds).
  public func lagMonitor(every interval: Duration, logger: Logger) -> PeriodicWork {
    PeriodicWork("replica lag measurement", every: interval, logger: logger) { [self] in
      try await measureLag()
    }
  }
}
