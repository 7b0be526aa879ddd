/// The pool's decisions, without I/O or clocks of its own: which connection serves whom, when to
/// open or close connections, when to back off. ``PostgresPool`` holds it under a lock, applies
/// each event ("lock, mutate, unlock"), then runs the returned actions ("then act").
///
/// Two kinds of use share the connections:
/// - **shared**: a single statement outside a transaction, pipelined with other callers'
///   statements on the same connection (up to ``Configuration/maximumPipelineDepth`` at once);
/// - **exclusive**: a lease for a transaction or ``PostgresPool/withConnection(_:)``, on a
///   connection nobody else uses meanwhile.
///
/// Idle connections are preferred for shared statements (spreading load over connections); once
/// none is idle, statements pipeline onto the least-loaded connection while the pool grows
/// towards its maximum. Exclusive waiters are never starved by a stream of shared statements:
/// when one waits and the pool cannot grow, the least-loaded shared connection stops taking new
/// statements ("draining") and goes to the waiter once its pipeline empties.
struct PoolStateMachine {
  typealias ConnectionID = Int
  typealias WaiterID = UInt64

  struct Configuration: Sendable {
    var minimumConnections: Int
    var maximumConnections: Int
    var maximumPipelineDepth: Int
    var healthCheckInterval: Duration
    var idleTimeout: Duration
  }

  enum Use: Sendable, Hashable {
    case shared
    case exclusive
  }

  enum Action: Sendable, Hashable {
    /// Hand connection `connection` to waiter `waiter`.
    case lease(waiter: WaiterID, connection: ConnectionID)
    /// Open a connection with this id.
    case connect(ConnectionID)
    /// Wait before trying to connect again; call ``backoffElapsed()`` afterwards. `attempt`
    /// counts consecutive failures (1 for the first).
    case backOff(attempt: Int)
    /// Close this connection.
    case close(ConnectionID)
    /// Check this idle connection (it is leased exclusively for the check; release it after).
    case healthCheck(ConnectionID)
    /// Fail this waiter: the pool closed.
    case failClosed(waiter: WaiterID)
  }

  struct Slot: Sendable, Hashable {
    var isReady = false
    var shared = 0
    var leased = false
    var draining = false
    var lastUsed: ContinuousClock.Instant

    var isIdle: Bool { self.isReady && self.shared == 0 && !self.leased }
  }

  let configuration: Configuration
  private(set) var slots: [ConnectionID: Slot] = [:]
  private var waiters: [(id: WaiterID, use: Use)] = []
  private var nextConnectionID = 1
  private(set) var consecutiveFailures = 0
  private(set) var isBackingOff = false
  private(set) var isClosed = false

  init(configuration: Configuration) {
    self.configuration = configuration
  }

  var waiterCount: Int { self.waiters.count }
  var isDrained: Bool { self.isClosed && self.slots.isEmpty }

  /// Opens the minimum number of connections.
  mutating func start(now: ContinuousClock.Instant) -> [Action] {
    self.ensureMinimum(now: now)
  }

  /// A caller wants a connection. Returns the connection to use at once, or nil when the caller
  /// was queued as `waiter` (a later ``Action/lease(waiter:connection:)`` serves it).
  mutating func acquire(_ waiter: WaiterID, use: Use, now: ContinuousClock.Instant) -> (
    ConnectionID?, [Action]
  ) {
    if let (id, actions) = self.acquireNow(use: use, now: now) {
      return (id, actions)
    }
    return (nil, self.enqueue(waiter, use: use, now: now))
  }

  /// Queues `waiter` (a later ``Action/lease(waiter:connection:)`` serves it), growing the pool
  /// for it. For a caller that ``acquireNow(use:now:)`` could not serve.
  mutating func enqueue(_ waiter: WaiterID, use: Use, now: ContinuousClock.Instant) -> [Action] {
    self.waiters.append((waiter, use))
    return self.grow(now: now)
  }

  /// A connection for `use` if one can be had right now, without queueing a waiter.
  mutating func acquireNow(use: Use, now: ContinuousClock.Instant) -> (ConnectionID, [Action])? {
    precondition(!self.isClosed, "check isClosed before acquiring")
    let exclusiveWaiting = self.waiters.contains { $0.use == .exclusive }
    guard let id = self.pick(use, idleAllowed: !(use == .shared && exclusiveWaiting)) else {
      return nil
    }
    var actions: [Action] = []
    self.take(id, use: use, now: now)
    if use == .shared, self.slots[id]!.shared > 1, self.connectingCount == 0 {
      // Pipelining onto a busy connection: grow towards the maximum meanwhile.
      actions += self.openConnections(count: 1, now: now)
    }
    return (id, actions)
  }

  /// The waiter gave up (timeout or cancellation). False when it was not waiting (it was served
  /// meanwhile, so the caller must release the connection it got).
  mutating func cancelWaiter(_ waiter: WaiterID) -> Bool {
    guard let index = self.waiters.firstIndex(where: { $0.id == waiter }) else { return false }
    self.waiters.remove(at: index)
    return true
  }

  /// A caller is done with connection `id`.
  mutating func release(_ id: ConnectionID, use: Use, now: ContinuousClock.Instant) -> [Action] {
    guard var slot = self.slots[id] else { return [] }
    switch use {
    case .shared: slot.shared = max(0, slot.shared - 1)
    case .exclusive: slot.leased = false
    }
    slot.lastUsed = now
    if slot.shared == 0 && !slot.leased {
      slot.draining = false
    }
    self.slots[id] = slot
    if self.isClosed {
      if slot.isIdle {
        self.slots[id] = nil
        return [.close(id)]
      }
      return []
    }
    return self.serveWaiters(now: now)
  }

  /// Connection `id` is open.
  mutating func connected(_ id: ConnectionID, now: ContinuousClock.Instant) -> [Action] {
    guard var slot = self.slots[id] else { return [.close(id)] }
    self.consecutiveFailures = 0
    if self.isClosed {
      self.slots[id] = nil
      return [.close(id)]
    }
    slot.isReady = true
    slot.lastUsed = now
    self.slots[id] = slot
    return self.serveWaiters(now: now)
  }

  /// Opening connection `id` failed.
  mutating func connectFailed(_ id: ConnectionID, now: ContinuousClock.Instant) -> [Action] {
    self.slots[id] = nil
    guard !self.isClosed else { return [] }
    self.consecutiveFailures += 1
    guard !self.isBackingOff else { return [] }
    self.isBackingOff = true
    return [.backOff(attempt: self.consecutiveFailures)]
  }

  /// The back-off wait is over: open what is needed.
  mutating func backoffElapsed(now: ContinuousClock.Instant) -> [Action] {
    self.isBackingOff = false
    guard !self.isClosed else { return [] }
    return self.ensureMinimum(now: now) + self.grow(now: now)
  }

  /// Connection `id` closed (the server went away, or the pool closed it).
  mutating func connectionClosed(_ id: ConnectionID, now: ContinuousClock.Instant) -> [Action] {
    guard self.slots.removeValue(forKey: id) != nil else { return [] }
    guard !self.isClosed else { return [] }
    return self.ensureMinimum(now: now) + self.grow(now: now)
  }

  /// Periodic upkeep: closes connections idle longer than the idle timeout (above the minimum)
  /// and leases those idle longer than the health-check interval for a check.
  mutating func tick(now: ContinuousClock.Instant) -> [Action] {
    guard !self.isClosed else { return [] }
    var actions: [Action] = []
    for id in self.slots.keys.sorted() {
      guard var slot = self.slots[id], slot.isIdle else { continue }
      let idle = slot.lastUsed.duration(to: now)
      if idle >= self.configuration.idleTimeout,
        self.slots.count > self.configuration.minimumConnections
      {
        self.slots[id] = nil
        actions.append(.close(id))
      } else if idle >= self.configuration.healthCheckInterval {
        slot.leased = true
        self.slots[id] = slot
        actions.append(.healthCheck(id))
      }
    }
    return actions
  }

  /// Closes the pool: waiters fail, idle connections close now, busy ones when released.
  mutating func close() -> [Action] {
    guard !self.isClosed else { return [] }
    self.isClosed = true
    var actions = self.waiters.map { Action.failClosed(waiter: $0.id) }
    self.waiters.removeAll()
    for (id, slot) in self.slots.sorted(by: { $0.key < $1.key }) where slot.isIdle {
      self.slots[id] = nil
      actions.append(.close(id))
    }
    return actions
  }

  // MARK: - Internals

  private var connectingCount: Int {
    self.slots.values.count { !$0.isReady }
  }

  private func pick(_ use: Use, idleAllowed: Bool) -> ConnectionID? {
    var best: (id: ConnectionID, shared: Int)?
    for (id, slot) in self.slots where slot.isReady && !slot.leased && !slot.draining {
      switch use {
      case .exclusive:
        if slot.shared == 0, best.map({ id < $0.id }) ?? true {
          best = (id, 0)
        }
      case .shared:
        guard slot.shared < self.configuration.maximumPipelineDepth else { continue }
        guard idleAllowed || slot.shared > 0 else { continue }
        if let current = best {
          if slot.shared < current.shared || (slot.shared == current.shared && id < current.id) {
            best = (id, slot.shared)
          }
        } else {
          best = (id, slot.shared)
        }
      }
    }
    return best?.id
  }

  private mutating func take(_ id: ConnectionID, use: Use, now: ContinuousClock.Instant) {
    switch use {
    case .shared: self.slots[id]!.shared += 1
    case .exclusive: self.slots[id]!.leased = true
    }
    self.slots[id]!.lastUsed = now
  }

  private mutating func serveWaiters(now: ContinuousClock.Instant) -> [Action] {
    var actions: [Action] = []
    var exclusiveBlocked = false
    var remaining: [(id: WaiterID, use: Use)] = []
    for waiter in self.waiters {
      let idleAllowed = waiter.use == .exclusive || !exclusiveBlocked
      if let id = self.pick(waiter.use, idleAllowed: idleAllowed) {
        self.take(id, use: waiter.use, now: now)
        actions.append(.lease(waiter: waiter.id, connection: id))
      } else {
        if waiter.use == .exclusive {
          exclusiveBlocked = true
        }
        remaining.append(waiter)
      }
    }
    self.waiters = remaining
    return actions + self.grow(now: now)
  }

  /// Opens connections for the waiters (one per exclusive waiter, one per pipeline's worth of
  /// shared waiters) up to the maximum; when the maximum is reached and exclusive callers
  /// wait, drains shared connections for them.
  private mutating func grow(now: ContinuousClock.Instant) -> [Action] {
    guard !self.waiters.isEmpty else { return [] }
    let exclusive = self.waiters.count { $0.use == .exclusive }
    let shared = self.waiters.count - exclusive
    let depth = max(1, self.configuration.maximumPipelineDepth)
    let demand = exclusive + (shared + depth - 1) / depth
    var actions: [Action] = []
    let missing = demand - self.connectingCount
    if missing > 0, !self.isBackingOff {
      actions += self.openConnections(count: missing, now: now)
    }
    // Still more exclusive waiters than connections that will come free for them: drain.
    let draining = self.slots.values.count { $0.draining }
    var shortfall = exclusive - self.connectingCount - draining
    while shortfall > 0 {
      let candidate = self.slots
        .filter { $0.value.isReady && !$0.value.leased && !$0.value.draining && $0.value.shared > 0 }
        .min { ($0.value.shared, $0.key) < ($1.value.shared, $1.key) }
      guard let candidate else { break }
      self.slots[candidate.key]!.draining = true
      shortfall -= 1
    }
    return actions
  }

  private mutating func ensureMinimum(now: ContinuousClock.Instant) -> [Action] {
    guard !self.isBackingOff else { return [] }
    return self.openConnections(
      count: self.configuration.minimumConnections - self.slots.count, now: now)
  }

  private mutating func openConnections(count: Int, now: ContinuousClock.Instant) -> [Action] {
    guard !self.isBackingOff else { return [] }
    var actions: [Action] = []
    var remaining = count
    while remaining > 0, self.slots.count < self.configuration.maximumConnections {
      let id = self.nextConnectionID
      self.nextConnectionID += 1
      self.slots[id] = Slot(lastUsed: now)
      actions.append(.connect(id))
      remaining -= 1
    }
    return actions
  }
}
