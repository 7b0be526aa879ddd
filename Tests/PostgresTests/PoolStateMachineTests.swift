import Testing

@testable import Postgres

@Suite("PoolStateMachine")
struct PoolStateMachineTests {
  let now = ContinuousClock.now

  func machine(minimum: Int = 0, maximum: Int = 2, depth: Int = 4) -> PoolStateMachine {
    PoolStateMachine(
      configuration: .init(
        minimumConnections: minimum, maximumConnections: maximum, maximumPipelineDepth: depth,
        healthCheckInterval: .seconds(30), idleTimeout: .seconds(300)))
  }

  @Test("start opens the minimum; a waiter is served when a connection opens")
  func startAndServe() {
    var machine = self.machine(minimum: 1)
    #expect(machine.start(now: self.now) == [.connect(1)])
    let (connection, actions) = machine.acquire(10, use: .exclusive, now: self.now)
    #expect(connection == nil)
    #expect(actions == [])  // the connection already opening will serve the waiter
    #expect(machine.connected(1, now: self.now) == [.lease(waiter: 10, connection: 1)])
    #expect(machine.release(1, use: .exclusive, now: self.now) == [])
    #expect(machine.slots[1]?.isIdle == true)
  }

  @Test("shared statements prefer idle connections, then pipeline onto the least loaded")
  func sharedPlacement() {
    var machine = self.machine(maximum: 2, depth: 2)
    _ = machine.acquire(1, use: .exclusive, now: self.now)
    _ = machine.acquire(2, use: .exclusive, now: self.now)
    _ = machine.connected(1, now: self.now)
    _ = machine.connected(2, now: self.now)
    _ = machine.release(1, use: .exclusive, now: self.now)
    _ = machine.release(2, use: .exclusive, now: self.now)
    #expect(machine.acquire(3, use: .shared, now: self.now).0 == 1)
    #expect(machine.acquire(4, use: .shared, now: self.now).0 == 2)
    #expect(machine.acquire(5, use: .shared, now: self.now).0 == 1)
    #expect(machine.acquire(6, use: .shared, now: self.now).0 == 2)
    // Both at the pipeline depth and the pool at its maximum: wait.
    #expect(machine.acquire(7, use: .shared, now: self.now).0 == nil)
    #expect(machine.release(2, use: .shared, now: self.now) == [.lease(waiter: 7, connection: 2)])
  }

  @Test("an exclusive waiter drains a shared connection instead of starving")
  func exclusiveDrains() {
    var machine = self.machine(maximum: 1, depth: 8)
    _ = machine.acquire(1, use: .shared, now: self.now)
    _ = machine.connected(1, now: self.now)
    #expect(machine.acquire(2, use: .shared, now: self.now).0 == 1)
    #expect(machine.acquire(3, use: .exclusive, now: self.now).0 == nil)
    #expect(machine.slots[1]?.draining == true)
    // Draining: new shared statements wait rather than pipeline onto it.
    #expect(machine.acquire(4, use: .shared, now: self.now).0 == nil)
    _ = machine.release(1, use: .shared, now: self.now)  // the statement for waiter 1
    // Served in order: the exclusive waiter first, then the shared one waits behind it.
    #expect(machine.release(1, use: .shared, now: self.now) == [.lease(waiter: 3, connection: 1)])
    #expect(machine.release(1, use: .exclusive, now: self.now) == [.lease(waiter: 4, connection: 1)])
  }

  @Test("failed connects back off; closed connections are replaced up to the minimum")
  func backoffAndReplace() {
    var machine = self.machine(minimum: 2, maximum: 4)
    #expect(machine.start(now: self.now) == [.connect(1), .connect(2)])
    #expect(machine.connectFailed(1, now: self.now) == [.backOff(attempt: 1)])
    #expect(machine.connectFailed(2, now: self.now) == [])  // already backing off
    #expect(machine.backoffElapsed(now: self.now) == [.connect(3), .connect(4)])
    #expect(machine.connectFailed(3, now: self.now) == [.backOff(attempt: 3)])
    _ = machine.connected(4, now: self.now)
    #expect(machine.consecutiveFailures == 0)
    #expect(machine.backoffElapsed(now: self.now) == [.connect(5)])
    _ = machine.connected(5, now: self.now)
    #expect(machine.connectionClosed(4, now: self.now) == [.connect(6)])
  }

  @Test("idle connections are checked, surplus ones closed; close fails waiters")
  func tickAndClose() {
    var machine = PoolStateMachine(
      configuration: .init(
        minimumConnections: 1, maximumConnections: 3, maximumPipelineDepth: 4,
        healthCheckInterval: .seconds(10), idleTimeout: .seconds(60)))
    #expect(machine.start(now: self.now) == [.connect(1)])
    _ = machine.acquire(1, use: .exclusive, now: self.now)
    #expect(machine.acquire(2, use: .exclusive, now: self.now).1 == [.connect(2)])
    _ = machine.connected(1, now: self.now)
    _ = machine.connected(2, now: self.now)
    _ = machine.release(1, use: .exclusive, now: self.now)
    _ = machine.release(2, use: .exclusive, now: self.now)
    #expect(machine.tick(now: self.now + .seconds(5)) == [])
    #expect(machine.tick(now: self.now + .seconds(11)) == [.healthCheck(1), .healthCheck(2)])
    _ = machine.release(1, use: .exclusive, now: self.now + .seconds(11))
    _ = machine.release(2, use: .exclusive, now: self.now + .seconds(11))
    // Idle past the idle timeout: the surplus one closes, the minimum stays (and is checked).
    #expect(machine.tick(now: self.now + .seconds(80)) == [.close(1), .healthCheck(2)])
    _ = machine.release(2, use: .exclusive, now: self.now + .seconds(80))
    _ = machine.acquire(7, use: .exclusive, now: self.now)
    #expect(machine.acquire(8, use: .exclusive, now: self.now).0 == nil)
    let closing = machine.close()
    #expect(closing.contains(.failClosed(waiter: 8)))
    _ = machine.release(2, use: .exclusive, now: self.now)
    #expect(machine.isClosed)
  }
}
