import Messages
import NIOCore

/// The decisions of an ``RPCClientPool``, as a pure state machine: which connection a call
/// gets, when to open or close connections, when an endpoint is ejected and probed, and which
/// waiting calls to wake. It performs no I/O and reads no clock; the pool feeds it events and
/// runs the ``Actions`` it returns. `Handle` is whatever the pool calls through (a connection).
struct PoolStateMachine<Handle> {
  struct Configuration {
    var minConnectionsPerEndpoint = 1
    var maxConnectionsPerEndpoint = 4
    var maxQueuedCalls = 1024
    var idleTimeout: Duration = .seconds(300)
    var backoff = Backoff()
  }

  typealias ConnectionID = Int
  typealias EndpointID = Int
  typealias WaiterID = Int

  struct Connection {
    let id: ConnectionID
    let handle: Handle
    /// The server's concurrent-call limit for this connection.
    let limit: Int
    var inFlight = 0
    /// GOAWAY received, or closing: no new calls.
    var goingAway = false
    var lastActive: ContinuousClock.Instant

    var hasRoom: Bool { !goingAway && inFlight < limit }
  }

  struct EndpointState {
    let id: EndpointID
    let endpoint: Endpoint
    var connections: [Connection] = []
    var connecting = 0
    /// In-flight calls over all its connections (the load the balancer compares).
    var inFlight = 0
    var consecutiveFailures = 0
    /// Failed to connect: no calls until a probe connects.
    var ejected = false
    var probeScheduled = false
    var lastError: String?
    /// No longer listed by the resolver: drained, then forgotten.
    var removed = false

    var usableConnections: Int { connections.reduce(0) { $0 + ($1.goingAway ? 0 : 1) } }
    var canConnect: Bool { !ejected && !removed && connecting == 0 }
  }

  /// A connection handed to one call; give it back with ``release(_:now:)``.
  struct Lease {
    let endpointID: EndpointID
    let connectionID: ConnectionID
    let handle: Handle
    let endpoint: Endpoint
  }

  struct Waiter {
    let id: WaiterID
    /// A connection that refused this call; the retry goes elsewhere if it can.
    let excluding: ConnectionID?
  }

  /// What the pool must do after an event, in this order.
  struct Actions {
    /// Open one connection to each (report ``connected`` or ``connectFailed``).
    var connect: [(EndpointID, Endpoint)] = []
    /// Close these connections (idle, or their endpoint is gone).
    var close: [Handle] = []
    /// Resume waiting calls.
    var resume: [(WaiterID, Result<Lease, RPCError>)] = []
    /// Call ``probeDue(_:)`` after the delay.
    var probe: [(EndpointID, Duration)] = []

    var isEmpty: Bool { connect.isEmpty && close.isEmpty && resume.isEmpty && probe.isEmpty }
  }

  enum LeaseResult {
    case leased(Lease)
    /// Wait for ``Actions/resume``.
    case queued
    case failed(RPCError)
  }

  let configuration: Configuration
  private(set) var endpoints: [EndpointState] = []
  private(set) var waiters = CircularBuffer<Waiter>()
  /// False until the resolver first answered: calls wait instead of failing.
  private(set) var resolved = false
  private(set) var shutDown = false
  /// Some endpoint may have fewer connections than the floor: check on the next call.
  private var floorCheckPending = false
  private var nextEndpointID = 1
  private var random: any RandomNumberGenerator & Sendable

  init(configuration: Configuration, random: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
    self.configuration = configuration
    self.random = random
  }

  /// Connections every live endpoint keeps (at least one, opened on first demand).
  private var floor: Int { max(1, configuration.minConnectionsPerEndpoint) }

  // MARK: Calls

  /// A call wants a connection.
  mutating func lease(waiter: WaiterID, excluding: ConnectionID? = nil) -> (LeaseResult, Actions) {
    var actions = Actions()
    guard !shutDown else { return (.failed(Self.closedError), actions) }
    if floorCheckPending { connectBelowFloor(&actions) }
    if let lease = pickConnection(excluding: excluding) { return (.leased(lease), actions) }
    if resolved, !endpoints.contains(where: { !$0.ejected && !$0.removed }) {
      return (.failed(noEndpointError()), actions)
    }
    guard waiters.count < configuration.maxQueuedCalls else {
      return (
        .failed(
          .rpc(
            .resourceExhausted, .concurrencyLimit,
            "the client pool's queue is full (\(configuration.maxQueuedCalls) calls waiting for a connection)",
            metadata: ["limit": "\(configuration.maxQueuedCalls)"], refused: true)),
        actions
      )
    }
    waiters.append(Waiter(id: waiter, excluding: excluding))
    scaleUp(&actions)
    return (.queued, actions)
  }

  /// A call ended on a leased connection.
  mutating func release(_ lease: Lease, now: ContinuousClock.Instant) -> Actions {
    var actions = Actions()
    guard let e = index(of: lease.endpointID) else { return actions }
    guard let c = endpoints[e].connections.firstIndex(where: { $0.id == lease.connectionID }) else { return actions }
    endpoints[e].connections[c].inFlight -= 1
    endpoints[e].inFlight -= 1
    endpoints[e].connections[c].lastActive = now
    if endpoints[e].removed, endpoints[e].connections[c].inFlight == 0 {
      actions.close.append(endpoints[e].connections.remove(at: c).handle)
      forgetIfDrained(e)
      return actions
    }
    serveWaiters(endpoint: e, connection: c, &actions)
    return actions
  }

  /// A waiting call gave up (deadline, cancellation): it is resumed with `error` unless it was
  /// already served.
  mutating func cancelWaiter(_ id: WaiterID, error: RPCError) -> Actions {
    var actions = Actions()
    if let position = waiters.firstIndex(where: { $0.id == id }) {
      waiters.remove(at: position)
      actions.resume.append((id, .failure(error)))
    }
    return actions
  }

  // MARK: Connections

  /// A connection opened; `connectionID` is the pool's name for it (unique), `limit` the
  /// server's concurrent-call limit.
  mutating func connected(
    _ endpointID: EndpointID, connectionID: ConnectionID, handle: Handle, limit: Int, now: ContinuousClock.Instant
  ) -> Actions {
    var actions = Actions()
    guard !shutDown, let e = index(of: endpointID) else {
      actions.close.append(handle)
      return actions
    }
    endpoints[e].connecting -= 1
    endpoints[e].ejected = false
    endpoints[e].consecutiveFailures = 0
    endpoints[e].lastError = nil
    guard !endpoints[e].removed else {
      actions.close.append(handle)
      forgetIfDrained(e)
      return actions
    }
    let connection = Connection(id: connectionID, handle: handle, limit: max(0, limit), lastActive: now)
    endpoints[e].connections.append(connection)
    serveWaiters(endpoint: e, connection: endpoints[e].connections.count - 1, &actions)
    floorCheckPending = true
    if !waiters.isEmpty { scaleUp(&actions) }
    return actions
  }

  /// Opening a connection failed: the endpoint is ejected and probed after a backoff.
  /// `random` is uniform in [0, 1), for the jitter.
  mutating func connectFailed(_ endpointID: EndpointID, error: String, random: Double) -> Actions {
    var actions = Actions()
    guard let e = index(of: endpointID) else { return actions }
    endpoints[e].connecting -= 1
    endpoints[e].lastError = error
    if endpoints[e].removed || shutDown {
      forgetIfDrained(e)
    } else {
      endpoints[e].consecutiveFailures += 1
      endpoints[e].ejected = true
      scheduleProbe(e, random: random, &actions)
    }
    settleWaiters(&actions)
    return actions
  }

  /// The server sent GOAWAY on a connection: it takes no new calls.
  mutating func goingAway(_ lease: (endpointID: EndpointID, connectionID: ConnectionID)) -> Actions {
    var actions = Actions()
    guard let e = index(of: lease.endpointID),
      let c = endpoints[e].connections.firstIndex(where: { $0.id == lease.connectionID })
    else { return actions }
    endpoints[e].connections[c].goingAway = true
    floorCheckPending = true
    if !waiters.isEmpty { scaleUp(&actions) }
    return actions
  }

  /// A connection closed (by either side, for any reason). Its calls end on their own.
  mutating func closed(_ lease: (endpointID: EndpointID, connectionID: ConnectionID)) -> Actions {
    var actions = Actions()
    guard let e = index(of: lease.endpointID),
      let c = endpoints[e].connections.firstIndex(where: { $0.id == lease.connectionID })
    else { return actions }
    let connection = endpoints[e].connections.remove(at: c)
    endpoints[e].inFlight -= connection.inFlight
    if forgetIfDrained(e) { return actions }
    guard !shutDown else { return actions }
    // Reconnect at once: if the server died, the attempt fails and ejects the endpoint, so
    // calls stop going there now rather than at the next call.
    connectBelowFloor(&actions)
    if !waiters.isEmpty { scaleUp(&actions) }
    settleWaiters(&actions)
    return actions
  }

  /// The backoff of an ejected endpoint ran out: try to connect again.
  mutating func probeDue(_ endpointID: EndpointID) -> Actions {
    var actions = Actions()
    guard !shutDown, let e = index(of: endpointID) else { return actions }
    endpoints[e].probeScheduled = false
    guard endpoints[e].ejected, !endpoints[e].removed, endpoints[e].connecting == 0 else { return actions }
    endpoints[e].connecting += 1
    actions.connect.append((endpoints[e].id, endpoints[e].endpoint))
    return actions
  }

  /// Closes connections idle since before `now - idleTimeout`, keeping the floor.
  mutating func closeIdle(now: ContinuousClock.Instant) -> Actions {
    var actions = Actions()
    for e in endpoints.indices {
      var usable = endpoints[e].usableConnections
      var kept: [Connection] = []
      for connection in endpoints[e].connections {
        if usable > configuration.minConnectionsPerEndpoint, !connection.goingAway, connection.inFlight == 0,
          connection.lastActive.duration(to: now) >= configuration.idleTimeout
        {
          usable -= 1
          actions.close.append(connection.handle)
        } else {
          kept.append(connection)
        }
      }
      endpoints[e].connections = kept
    }
    return actions
  }

  // MARK: Endpoints

  /// The resolver's current answer.
  mutating func setEndpoints(_ list: [Endpoint]) -> Actions {
    var actions = Actions()
    guard !shutDown else { return actions }
    resolved = true
    for e in endpoints.indices.reversed() where !list.contains(endpoints[e].endpoint) {
      endpoints[e].removed = true
      let idle = endpoints[e].connections.filter { $0.inFlight == 0 }
      endpoints[e].connections.removeAll { $0.inFlight == 0 }
      actions.close += idle.map(\.handle)
      for c in endpoints[e].connections.indices { endpoints[e].connections[c].goingAway = true }
      forgetIfDrained(e)
    }
    for endpoint in list {
      if let e = endpoints.firstIndex(where: { $0.endpoint == endpoint }) {
        endpoints[e].removed = false
      } else {
        endpoints.append(EndpointState(id: nextEndpointID, endpoint: endpoint))
        nextEndpointID += 1
      }
    }
    floorCheckPending = true
    if !waiters.isEmpty {
      connectBelowFloor(&actions)
      scaleUp(&actions)
    }
    settleWaiters(&actions)
    return actions
  }

  /// The pool closes: every waiter fails, every connection closes.
  mutating func shutdown() -> Actions {
    var actions = Actions()
    guard !shutDown else { return actions }
    shutDown = true
    while let waiter = waiters.popFirst() { actions.resume.append((waiter.id, .failure(Self.closedError))) }
    for e in endpoints.indices {
      actions.close += endpoints[e].connections.map(\.handle)
      endpoints[e].connections = []
      endpoints[e].inFlight = 0
    }
    return actions
  }

  // MARK: Inspection

  /// Open connections per endpoint (for metrics and tests).
  var connectionCounts: [Endpoint: Int] {
    Dictionary(endpoints.map { ($0.endpoint, $0.connections.count) }, uniquingKeysWith: +)
  }

  var ejectedEndpoints: [Endpoint] { endpoints.filter(\.ejected).map(\.endpoint) }

  // MARK: Decisions

  static var closedError: RPCError {
    RPCError(code: .unavailable, message: "the client pool is closed")
  }

  private func noEndpointError() -> RPCError {
    let live = endpoints.filter { !$0.removed }
    guard !live.isEmpty else {
      return RPCError(code: .unavailable, message: "no endpoint to call: the resolver returned none")
    }
    let reasons = live.map { "\($0.endpoint): \($0.lastError ?? "ejected")" }.joined(separator: "; ")
    return RPCError(code: .unavailable, message: "no endpoint is reachable (\(reasons))")
  }

  private func index(of id: EndpointID) -> Int? {
    endpoints.firstIndex { $0.id == id }
  }

  /// Least-loaded of two random endpoints that have a connection with room (power of two
  /// choices), then that endpoint's least-loaded connection.
  private mutating func pickConnection(excluding: ConnectionID?) -> Lease? {
    var candidates = 0
    for e in endpoints.indices where hasRoom(e, excluding: excluding) { candidates += 1 }
    if candidates == 0, excluding != nil {
      // Nothing else has room: the connection that refused may take the retry after all
      // (a refusal for overload, unlike GOAWAY, leaves it usable).
      return pickConnection(excluding: nil)
    }
    guard candidates > 0 else { return nil }
    var chosen: Int
    if candidates == 1 {
      chosen = endpoints.indices.first { hasRoom($0, excluding: excluding) }!
    } else {
      let first = Int.random(in: 0..<candidates, using: &random)
      var second = Int.random(in: 0..<(candidates - 1), using: &random)
      if second >= first { second += 1 }
      var a = 0
      var b = 0
      var seen = 0
      for e in endpoints.indices where hasRoom(e, excluding: excluding) {
        if seen == first { a = e }
        if seen == second { b = e }
        seen += 1
      }
      chosen = endpoints[b].inFlight < endpoints[a].inFlight ? b : a
    }
    var best: Int?
    for c in endpoints[chosen].connections.indices {
      let connection = endpoints[chosen].connections[c]
      guard connection.hasRoom, connection.id != excluding else { continue }
      if best == nil || connection.inFlight < endpoints[chosen].connections[best!].inFlight { best = c }
    }
    return lease(endpoint: chosen, connection: best!)
  }

  private func hasRoom(_ e: Int, excluding: ConnectionID?) -> Bool {
    !endpoints[e].ejected && !endpoints[e].removed
      && endpoints[e].connections.contains { $0.hasRoom && $0.id != excluding }
  }

  private mutating func lease(endpoint e: Int, connection c: Int) -> Lease {
    endpoints[e].connections[c].inFlight += 1
    endpoints[e].inFlight += 1
    let connection = endpoints[e].connections[c]
    return Lease(
      endpointID: endpoints[e].id, connectionID: connection.id, handle: connection.handle,
      endpoint: endpoints[e].endpoint)
  }

  /// Hands a connection with room to waiting calls, first come first served (a call that this
  /// connection refused before waits for another one, unless no other has room).
  private mutating func serveWaiters(endpoint e: Int, connection c: Int, _ actions: inout Actions) {
    guard !endpoints[e].ejected, !endpoints[e].removed else { return }
    var skipped = 0
    while endpoints[e].connections[c].hasRoom, skipped < waiters.count {
      let position = waiters.index(waiters.startIndex, offsetBy: skipped)
      let waiter = waiters[position]
      if waiter.excluding == endpoints[e].connections[c].id, hasOtherRoom(e, c) {
        skipped += 1
        continue
      }
      waiters.remove(at: position)
      actions.resume.append((waiter.id, .success(lease(endpoint: e, connection: c))))
    }
  }

  private func hasOtherRoom(_ e: Int, _ c: Int) -> Bool {
    let id = endpoints[e].connections[c].id
    return endpoints.indices.contains { hasRoom($0, excluding: id) }
  }

  /// Opens connections up to the floor on every live endpoint (lazily: only once calls come).
  private mutating func connectBelowFloor(_ actions: inout Actions) {
    floorCheckPending = false
    for e in endpoints.indices where endpoints[e].canConnect {
      if endpoints[e].usableConnections < floor {
        endpoints[e].connecting += 1
        actions.connect.append((endpoints[e].id, endpoints[e].endpoint))
      }
    }
  }

  /// Every connection is full: open one more on the least-loaded endpoint that may grow.
  private mutating func scaleUp(_ actions: inout Actions) {
    if endpoints.contains(where: { !$0.ejected && !$0.removed && $0.connecting > 0 }) { return }
    var best: Int?
    for e in endpoints.indices where endpoints[e].canConnect {
      guard endpoints[e].usableConnections < configuration.maxConnectionsPerEndpoint else { continue }
      if best == nil || endpoints[e].inFlight < endpoints[best!].inFlight { best = e }
    }
    guard let e = best else { return }
    endpoints[e].connecting += 1
    actions.connect.append((endpoints[e].id, endpoints[e].endpoint))
  }

  /// Opens a connection for waiting calls if one may be opened; fails them all when no
  /// endpoint can serve them any more.
  private mutating func settleWaiters(_ actions: inout Actions) {
    guard !waiters.isEmpty, resolved else { return }
    scaleUp(&actions)
    let hope = endpoints.contains { state in
      !state.ejected && !state.removed && (state.connecting > 0 || state.connections.contains { !$0.goingAway })
    }
    guard !hope else { return }
    let error = noEndpointError()
    while let waiter = waiters.popFirst() { actions.resume.append((waiter.id, .failure(error))) }
  }

  private mutating func scheduleProbe(_ e: Int, random: Double, _ actions: inout Actions) {
    guard !endpoints[e].probeScheduled else { return }
    endpoints[e].probeScheduled = true
    let delay = configuration.backoff.delay(attempt: endpoints[e].consecutiveFailures, random: random)
    actions.probe.append((endpoints[e].id, delay))
  }

  /// Forgets a removed endpoint once nothing of it is left; returns whether it did.
  @discardableResult
  private mutating func forgetIfDrained(_ e: Int) -> Bool {
    guard endpoints[e].removed, endpoints[e].connections.isEmpty, endpoints[e].connecting == 0 else { return false }
    endpoints.remove(at: e)
    return true
  }
}

extension PoolStateMachine: Sendable where Handle: Sendable {}
extension PoolStateMachine.Configuration: Sendable {}
extension PoolStateMachine.Connection: Sendable where Handle: Sendable {}
extension PoolStateMachine.EndpointState: Sendable where Handle: Sendable {}
extension PoolStateMachine.Lease: Sendable where Handle: Sendable {}
extension PoolStateMachine.Waiter: Sendable {}
extension PoolStateMachine.Actions: Sendable where Handle: Sendable {}
extension PoolStateMachine.LeaseResult: Sendable where Handle: Sendable {}
