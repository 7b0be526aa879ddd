import CommerceAPI
import Messages
import Testing

@testable import RPC

/// The pool's decisions, without sockets: handles are plain strings naming a connection.
@Suite("Pool state machine")
struct RPCPoolStateMachineTests {
  typealias Machine = PoolStateMachine<String>

  static let a = Endpoint(host: "10.0.0.1", port: 7700)
  static let b = Endpoint(host: "10.0.0.2", port: 7700)
  static let now = ContinuousClock.now

  static func machine(
    _ endpoints: [Endpoint] = [a, b], configure: (inout Machine.Configuration) -> Void = { _ in }
  ) -> Machine {
    var configuration = Machine.Configuration()
    configure(&configuration)
    var machine = Machine(configuration: configuration, random: SplitMix(seed: 7))
    _ = machine.setEndpoints(endpoints)
    return machine
  }

  /// Connects every endpoint the actions ask for, with `limit` calls each; returns the merged
  /// actions of the connections.
  static func connectAll(
    _ machine: inout Machine, _ actions: Machine.Actions, limit: Int, ids: inout Int
  ) -> Machine.Actions {
    var merged = Machine.Actions()
    for (endpointID, endpoint) in actions.connect {
      let more = machine.connected(
        endpointID, connectionID: ids, handle: "\(endpoint.host)#\(ids)", limit: limit, now: now)
      ids += 1
      merged.resume += more.resume
      merged.connect += more.connect
    }
    return merged
  }

  @Test("no connection opens before the first call, which connects to every endpoint and waits")
  func lazyConnect() {
    var machine = Self.machine()
    #expect(machine.connectionCounts.values.allSatisfy { $0 == 0 })
    let (result, actions) = machine.lease(waiter: 1)
    guard case .queued = result else { Issue.record("expected the call to wait, got \(result)"); return }
    #expect(Set(actions.connect.map(\.1)) == [Self.a, Self.b])
    var ids = 1
    let served = Self.connectAll(&machine, actions, limit: 10, ids: &ids)
    #expect(served.resume.count == 1)
    #expect(served.resume.first?.0 == 1)
    if case .success(let lease)? = served.resume.first?.1 { #expect(lease.endpoint == Self.a) } else {
      Issue.record("the waiting call was not given a connection")
    }
  }

  @Test("full connections scale up one at a time up to the maximum, then calls queue, then fail at once")
  func scaleUpQueueAndBound() {
    var machine = Self.machine([Self.a]) {
      $0.maxConnectionsPerEndpoint = 2
      $0.maxQueuedCalls = 2
    }
    var ids = 1
    var (result, actions) = machine.lease(waiter: 1)
    #expect(actions.connect.count == 1)
    _ = Self.connectAll(&machine, actions, limit: 1, ids: &ids)
    // The first connection is full (limit 1): the next call asks for a second connection.
    (result, actions) = machine.lease(waiter: 2)
    guard case .queued = result else { Issue.record("expected to wait"); return }
    #expect(actions.connect.count == 1)
    // While it connects, more calls wait without opening a third.
    (result, actions) = machine.lease(waiter: 3)
    guard case .queued = result else { Issue.record("expected to wait"); return }
    #expect(actions.connect.isEmpty)
    let served = Self.connectAll(&machine, Machine.Actions(connect: [(1, Self.a)]), limit: 1, ids: &ids)
    #expect(served.resume.map(\.0) == [2])
    // Two connections, both full, at the maximum: calls queue up to the bound...
    (result, actions) = machine.lease(waiter: 4)
    guard case .queued = result else { Issue.record("expected to wait"); return }
    #expect(actions.connect.isEmpty)
    // ...and past it fail at once with RESOURCE_EXHAUSTED.
    (result, _) = machine.lease(waiter: 5)
    guard case .failed(let error) = result else { Issue.record("expected an immediate failure"); return }
    #expect(error.code == .resourceExhausted)
    #expect(error.message.contains("queue is full"))
    #expect(machine.waiters.map(\.id) == [3, 4])
  }

  @Test("a released connection goes to the first waiting call")
  func releaseServesWaiters() throws {
    var machine = Self.machine([Self.a]) { $0.maxConnectionsPerEndpoint = 1 }
    var ids = 1
    let (_, actions) = machine.lease(waiter: 1)
    let served = Self.connectAll(&machine, actions, limit: 1, ids: &ids)
    let lease = try #require(try served.resume.first?.1.get())
    _ = machine.lease(waiter: 2)
    _ = machine.lease(waiter: 3)
    let released = machine.release(lease, now: Self.now)
    #expect(released.resume.map(\.0) == [2])
    #expect(machine.waiters.map(\.id) == [3])
  }

  @Test("a failed connect ejects the endpoint, probes it with growing backoff, and a probe brings it back")
  func ejectAndProbe() throws {
    var machine = Self.machine { $0.backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), multiplier: 2, jitter: 0) }
    var ids = 1
    let (_, actions) = machine.lease(waiter: 1)
    let bID = try #require(actions.connect.first { $0.1 == Self.b }?.0)
    _ = Self.connectAll(&machine, Machine.Actions(connect: actions.connect.filter { $0.1 == Self.a }), limit: 100, ids: &ids)
    var failed = machine.connectFailed(bID, error: "connection refused", random: 0.5)
    #expect(failed.probe.map(\.1) == [.milliseconds(100)])
    #expect(machine.ejectedEndpoints == [Self.b])
    // Calls go to the healthy endpoint only.
    for waiter in 2...20 {
      guard case .leased(let lease) = machine.lease(waiter: waiter).0 else { Issue.record("expected a lease"); return }
      #expect(lease.endpoint == Self.a)
    }
    // The probe fails again: the next wait doubles.
    let probe = machine.probeDue(bID)
    #expect(probe.connect.map(\.1) == [Self.b])
    failed = machine.connectFailed(bID, error: "connection refused", random: 0.5)
    #expect(failed.probe.map(\.1) == [.milliseconds(200)])
    // A probe that connects un-ejects it.
    _ = machine.probeDue(bID)
    _ = machine.connected(bID, connectionID: 99, handle: "b#99", limit: 10, now: Self.now)
    #expect(machine.ejectedEndpoints.isEmpty)
  }

  @Test("when every endpoint is ejected, waiting and new calls fail at once with UNAVAILABLE")
  func allEjected() {
    var machine = Self.machine()
    let (_, actions) = machine.lease(waiter: 1)
    var last = Machine.Actions()
    for (endpointID, _) in actions.connect {
      last = machine.connectFailed(endpointID, error: "connection refused", random: 0)
    }
    #expect(last.resume.map(\.0) == [1])
    if case .failure(let error)? = last.resume.first?.1 {
      #expect(error.code == .unavailable)
      #expect(error.message.contains("connection refused"))
    } else {
      Issue.record("the waiting call was not failed")
    }
    guard case .failed(let error) = machine.lease(waiter: 2).0 else { Issue.record("expected a failure"); return }
    #expect(error.code == .unavailable)
  }

  @Test("a connection that received GOAWAY takes no new calls; a replacement opens")
  func goAway() throws {
    var machine = Self.machine([Self.a])
    var ids = 1
    let (_, actions) = machine.lease(waiter: 1)
    let served = Self.connectAll(&machine, actions, limit: 10, ids: &ids)
    let lease = try #require(try served.resume.first?.1.get())
    _ = machine.goingAway((lease.endpointID, lease.connectionID))
    let (result, next) = machine.lease(waiter: 2)
    guard case .queued = result else { Issue.record("the going-away connection took a call: \(result)"); return }
    #expect(next.connect.map(\.1) == [Self.a])
  }

  @Test("power of two choices sends calls to the less loaded endpoint")
  func powerOfTwoChoices() {
    var machine = Self.machine()
    var ids = 1
    let (_, actions) = machine.lease(waiter: 0)
    _ = Self.connectAll(&machine, actions, limit: 1000, ids: &ids)
    var leases: [Machine.Lease] = []
    for waiter in 1...200 {
      guard case .leased(let lease) = machine.lease(waiter: waiter).0 else { Issue.record("expected a lease"); return }
      leases.append(lease)
    }
    let onA = leases.filter { $0.endpoint == Self.a }.count
    // With two endpoints the pair is always both: the loads never differ by more than one.
    #expect(abs((onA + 1) - (leases.count - onA)) <= 1)
    // Release everything on A: the next calls all go to A until it catches up.
    for lease in leases where lease.endpoint == Self.a { _ = machine.release(lease, now: Self.now) }
    for waiter in 201...210 {
      guard case .leased(let lease) = machine.lease(waiter: waiter).0 else { Issue.record("expected a lease"); return }
      #expect(lease.endpoint == Self.a)
    }
  }

  @Test("idle connections close after the timeout, down to the minimum")
  func idleClose() {
    var machine = Self.machine([Self.a]) {
      $0.minConnectionsPerEndpoint = 1
      $0.maxConnectionsPerEndpoint = 3
      $0.idleTimeout = .seconds(60)
    }
    // Three calls, each needing its own connection (the server allows one call per connection).
    var leases: [Machine.Lease] = []
    for id in 1...3 {
      let (_, actions) = machine.lease(waiter: id)
      #expect(actions.connect.count == 1)
      let served = machine.connected(1, connectionID: id, handle: "a#\(id)", limit: 1, now: Self.now)
      if case .success(let lease)? = served.resume.first?.1 { leases.append(lease) }
    }
    #expect(leases.count == 3)
    #expect(machine.connectionCounts[Self.a] == 3)
    // Busy connections never close, however old.
    #expect(machine.closeIdle(now: Self.now + .seconds(120)).close.isEmpty)
    for lease in leases { _ = machine.release(lease, now: Self.now) }
    #expect(machine.closeIdle(now: Self.now + .seconds(30)).close.isEmpty)
    #expect(machine.closeIdle(now: Self.now + .seconds(61)).close.count == 2)
    #expect(machine.connectionCounts[Self.a] == 1)
  }

  @Test("an endpoint the resolver drops closes its idle connections and takes no new calls")
  func endpointRemoved() {
    var machine = Self.machine()
    var ids = 1
    let (_, actions) = machine.lease(waiter: 1)
    _ = Self.connectAll(&machine, actions, limit: 10, ids: &ids)
    let removed = machine.setEndpoints([Self.a])
    // B's connection was idle (the waiter went to A): it closes now.
    #expect(removed.close.count == 1)
    #expect(machine.connectionCounts[Self.b] == nil)
    for waiter in 2...10 {
      guard case .leased(let lease) = machine.lease(waiter: waiter).0 else { Issue.record("expected a lease"); return }
      #expect(lease.endpoint == Self.a)
    }
  }

  @Test("a waiting call that gives up is resumed once, with its error")
  func cancelWaiter() {
    var machine = Self.machine()
    _ = machine.lease(waiter: 1)
    let actions = machine.cancelWaiter(1, error: RPCError(code: .deadlineExceeded, message: "deadline exceeded"))
    #expect(actions.resume.count == 1)
    #expect(machine.waiters.isEmpty)
    #expect(machine.cancelWaiter(1, error: RPCError(code: .cancelled, message: "again")).resume.isEmpty)
  }

  @Test("before the resolver answers, calls wait instead of failing")
  func waitsForResolution() {
    var machine = Machine(configuration: .init(), random: SplitMix(seed: 1))
    guard case .queued = machine.lease(waiter: 1).0 else { Issue.record("expected to wait"); return }
    let actions = machine.setEndpoints([Self.a])
    #expect(actions.connect.map(\.1) == [Self.a])
  }

  @Test("backoff grows by the multiplier, is capped, and jitter spreads it both ways")
  func backoff() {
    let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), multiplier: 2, jitter: 0.2)
    #expect(backoff.delay(attempt: 1, random: 0.5) == .milliseconds(100))
    #expect(backoff.delay(attempt: 3, random: 0.5) == .milliseconds(400))
    #expect(backoff.delay(attempt: 20, random: 0.5) == .seconds(1))
    #expect(backoff.delay(attempt: 1, random: 0) == .milliseconds(80))
    #expect(backoff.delay(attempt: 1, random: 0.999_999) > .milliseconds(119))
  }

  @Test("the retry budget stops retries when most calls fail and refills with successes")
  func retryBudget() {
    let throttle = RetryThrottle(RetryBudget(maxTokens: 10, tokenRatio: 0.5))
    var allowed = 0
    for _ in 0..<20 where throttle.recordFailureAndAskToRetry() { allowed += 1 }
    #expect(allowed == 4)  // 9, 8, 7, 6 left > 5; then no more
    for _ in 0..<14 { throttle.recordSuccess() }
    #expect(throttle.recordFailureAndAskToRetry())
  }
}

@Suite("Retry policies")
struct RetryPolicyLookupTests {
  @Test("methods the proto declares safe to repeat get the default policy; others get none unless configured")
  func lookup() {
    var policies = RetryPolicies()
    let echo = RpcV1.EchoService.Echo.descriptor
    let register = CommerceV1.AuthService.RegisterUser.descriptor
    let checkout = CommerceV1.OrderService.Checkout.descriptor
    #expect(echo.idempotency == .noSideEffects)
    #expect(register.idempotency == .unknown)
    #expect(checkout.idempotency == .idempotent)
    #expect(policies.policy(for: echo) == RetryPolicy())
    #expect(policies.policy(for: checkout) == RetryPolicy())
    #expect(policies.policy(for: register) == nil)
    let custom = RetryPolicy(maxAttempts: 5, retryableCodes: [.unavailable, .aborted])
    policies["emporium.commerce.v1.OrderService"] = custom
    #expect(policies.policy(for: checkout) == custom)
    policies["/emporium.commerce.v1.AuthService/RegisterUser"] = custom
    #expect(policies.policy(for: register) == custom)
    policies.idempotentMethods = nil
    #expect(policies.policy(for: echo) == nil)
  }
}

/// A deterministic random number generator for tests.
struct SplitMix: RandomNumberGenerator, Sendable {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
