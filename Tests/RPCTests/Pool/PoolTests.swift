import Messages
import MetricsTestKit
import NIOConcurrencyHelpers
import NIOCore
import TestSupport
import RPCTestSupport
import Testing

@testable import RPC

/// The pool against real servers on loopback (several per test, each its own port).
@Suite("Client pool over real connections", .serialized)
struct PoolTests {
  typealias Echo = RpcV1.EchoService

  /// Counts the calls a server's handlers ran, by method.
  final class CallCounter: ServerInterceptor {
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
      counts.withLockedValue { $0[context.method.method, default: 0] += 1 }
      try await next(context)
    }

    func count(_ method: String = "Echo") -> Int { counts.withLockedValue { $0[method] ?? 0 } }
  }

  /// A server that can be stopped and started again on the same port.
  final class RestartableServer: Sendable {
    let port: Int
    let counter = CallCounter()
    let configure: @Sendable (inout RPCServer.Configuration) -> Void
    private let running = NIOLockedValueBox<(RPCServer, Task<Void, any Error>)?>(nil)

    init(port: Int = 0, configure: @escaping @Sendable (inout RPCServer.Configuration) -> Void = { _ in }) async throws {
      self.configure = configure
      var chosen = port
      if chosen == 0 {
        // Bind once to learn a free port, then keep serving on it.
        let probe = RPCServer(services: [], configuration: { var c = RPCServer.Configuration(); c.port = 0; return c }())
        let task = Task { try await probe.serve() }
        chosen = try await probe.localAddress().port!
        probe.beginGracefulShutdown()
        try await task.value
      }
      self.port = chosen
      try await start()
    }

    var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    func start() async throws {
      var configuration = RPCServer.Configuration()
      configuration.port = port
      configuration.drainTimeout = .seconds(5)
      configure(&configuration)
      let server = RPCServer(
        services: [EchoService(instance: "\(port)")], interceptors: [counter], configuration: configuration)
      let task = Task { try await server.serve() }
      _ = try await server.localAddress()
      running.withLockedValue { $0 = (server, task) }
    }

    /// Graceful shutdown: GOAWAY, drain, stop.
    func stop() async {
      guard let (server, task) = running.withLockedValue({ state in defer { state = nil }; return state }) else { return }
      server.beginGracefulShutdown()
      _ = try? await task.value
    }
  }

  static func echo(_ text: String = "hi", delay: Duration? = nil, failWith code: RPCStatusCode? = nil) -> RpcV1.EchoRequest {
    var request = RpcV1.EchoRequest()
    request.message = text
    if let delay {
      request.responseDelay = .with {
        $0.seconds = delay.components.seconds
        $0.nanos = Int32(delay.components.attoseconds / 1_000_000_000)
      }
    }
    if let code { request.failWith = .with { $0.code = Int32(code.rawValue); $0.message = "injected" } }
    return request
  }

  static func fastBackoff(_ configuration: inout RPCClientPool.Configuration) {
    configuration.reconnectBackoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), multiplier: 2, jitter: 0.2)
  }

  @Test("generated clients work over the pool for all four call kinds; nothing connects before the first call")
  func allCallKinds() async throws {
    let server = try await RestartableServer()
    let pool = RPCClientPool(endpoints: [server.endpoint])
    #expect(pool.snapshot().endpoints.map(\.connections) == [0])
    let client = Echo.Client(pool)
    let unary = try await client.echo(Self.echo("one"))
    #expect(unary.message == "one")
    #expect(pool.snapshot().endpoints.map(\.connections) == [1])
    var streamRequest = Self.echo("many")
    streamRequest.repeatCount = 3
    let sequences = try await client.expand(streamRequest) { responses in
      var seen: [Int32] = []
      for try await response in responses { seen.append(response.sequence) }
      return seen
    }
    #expect(sequences == [0, 1, 2])
    let collected = try await client.collect { writer in
      try await writer.write(Self.echo("a"))
      try await writer.write(Self.echo("b"))
    }
    #expect(collected.message == "ab")
    let updates = try await client.update { writer in
      try await writer.write(Self.echo("x"))
      try await writer.write(Self.echo("y"))
    } responses: { responses in
      var messages: [String] = []
      for try await response in responses { messages.append(response.message) }
      return messages
    }
    #expect(updates == ["x", "y"])
    await pool.close()
    await server.stop()
  }

  /// Calls go to the endpoint with fewer calls in flight, so a server the machine runs more
  /// slowly (a loaded CI host) rightly gets fewer: the bound allows for that, not for one
  /// endpoint taking nearly everything.
  @Test("two endpoints share the load: each serves at least 35% of the calls")
  func loadIsShared() async throws {
    let first = try await RestartableServer()
    let second = try await RestartableServer()
    let pool = RPCClientPool(endpoints: [first.endpoint, second.endpoint])
    let client = Echo.Client(pool)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<32 {
        group.addTask { for _ in 0..<100 { _ = try await client.echo(Self.echo(delay: .microseconds(200))) } }
      }
      try await group.waitForAll()
    }
    let counts = [first.counter.count(), second.counter.count()]
    #expect(counts.reduce(0, +) == 3200)
    for count in counts { #expect((1120...2080).contains(count), "calls per endpoint: \(counts)") }
    await pool.close()
    await first.stop()
    await second.stop()
  }

  @Test("past the queue bound calls fail at once with RESOURCE_EXHAUSTED; queued calls honour their deadline")
  func queueBound() async throws {
    // Two calls per connection, one connection: two run, three wait, the sixth is refused.
    let server = try await RestartableServer { $0.settings.maxConcurrentCalls = 2 }
    var configuration = RPCClientPool.Configuration()
    configuration.maxConnectionsPerEndpoint = 1
    configuration.maxQueuedCalls = 3
    let pool = RPCClientPool(endpoints: [server.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    let slow = Task {
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<2 { group.addTask { _ = try await client.echo(Self.echo(delay: .seconds(2))) } }
        while server.counter.count() < 2 { try await Task.sleep(for: .milliseconds(5)) }
        for _ in 0..<2 { group.addTask { _ = try await client.echo(Self.echo()) } }
        try await group.waitForAll()
      }
    }
    #expect(await eventually { pool.snapshot().queuedCalls == 2 })
    // The third waiting call gives up at its deadline, long before the slow calls end.
    let waitStart = ContinuousClock.now
    await #expect(throws: RPCError.self) {
      _ = try await client.echo(Self.echo(), options: CallOptions(timeout: .milliseconds(200)))
    }
    do {
      _ = try await client.echo(Self.echo(), options: CallOptions(timeout: .milliseconds(200)))
    } catch let error as RPCError {
      #expect(error.code == .deadlineExceeded)
    }
    #expect(ContinuousClock.now - waitStart < .seconds(2))
    // Fill the queue: the next call is refused at once, not after its 10 s deadline.
    let filler = Task { _ = try await client.echo(Self.echo(), options: CallOptions(timeout: .seconds(10))) }
    #expect(await eventually { pool.snapshot().queuedCalls == 3 })
    let start = ContinuousClock.now
    do {
      _ = try await client.echo(Self.echo(), options: CallOptions(timeout: .seconds(10)))
      Issue.record("a call past the queue bound succeeded")
    } catch let error as RPCError {
      #expect(error.code == .resourceExhausted)
      #expect(error.message.contains("queue is full"))
    }
    #expect(ContinuousClock.now - start < .milliseconds(500))
    try await slow.value
    try await filler.value
    #expect(pool.snapshot().queuedCalls == 0)
    await pool.close()
    await server.stop()
  }

  @Test("an unreachable endpoint is ejected, calls go elsewhere, and it is probed back when it returns")
  func ejectionAndProbing() async throws {
    let live = try await RestartableServer()
    let returning = try await RestartableServer()
    await returning.stop()
    var configuration = RPCClientPool.Configuration()
    Self.fastBackoff(&configuration)
    let pool = RPCClientPool(endpoints: [live.endpoint, returning.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    for _ in 0..<50 { _ = try await client.echo(Self.echo()) }
    #expect(live.counter.count() == 50)
    let ejected = pool.snapshot().endpoints.first { $0.endpoint == returning.endpoint }
    #expect(ejected?.ejected == true)
    #expect(ejected?.lastError?.contains("could not connect") == true)
    // It comes back: a probe reconnects and it gets calls again.
    try await returning.start()
    let deadline = ContinuousClock.now + .seconds(5)
    while pool.snapshot().endpoints.contains(where: \.ejected), ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(pool.snapshot().endpoints.allSatisfy { !$0.ejected })
    for _ in 0..<50 { _ = try await client.echo(Self.echo(delay: .milliseconds(1))) }
    #expect(returning.counter.count() > 0)
    await pool.close()
    await live.stop()
    await returning.stop()
  }

  @Test("with every endpoint down, calls fail at once with UNAVAILABLE naming the cause")
  func allDown() async throws {
    let gone = try await RestartableServer()
    await gone.stop()
    var configuration = RPCClientPool.Configuration()
    Self.fastBackoff(&configuration)
    let pool = RPCClientPool(endpoints: [gone.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    for _ in 0..<3 {
      let start = ContinuousClock.now
      do {
        _ = try await client.echo(Self.echo(), options: CallOptions(timeout: .seconds(10)))
        Issue.record("a call to a dead endpoint succeeded")
      } catch let error as RPCError {
        #expect(error.code == .unavailable)
        #expect(error.message.contains("\(gone.port)"))
      }
      #expect(ContinuousClock.now - start < .seconds(2))
    }
    await pool.close()
  }

  @Test("a server draining gracefully under load: zero failed calls, new calls move to the other endpoint")
  func gracefulDrain() async throws {
    let draining = try await RestartableServer()
    let staying = try await RestartableServer()
    var configuration = RPCClientPool.Configuration()
    Self.fastBackoff(&configuration)
    // No explicit policy: Echo is declared free of side effects, so the default policy applies.
    #expect(Echo.Echo.descriptor.idempotency == .noSideEffects)
    let pool = RPCClientPool(endpoints: [draining.endpoint, staying.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    let failures = NIOLockedValueBox<[String]>([])
    let stop = ContinuousClock.now + .seconds(2)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<16 {
        group.addTask {
          while ContinuousClock.now < stop {
            do {
              _ = try await client.echo(Self.echo(delay: .milliseconds(2)), options: CallOptions(timeout: .seconds(5)))
            } catch {
              failures.withLockedValue { $0.append("\(error)") }
            }
          }
        }
      }
      try await Task.sleep(for: .milliseconds(700))
      let before = draining.counter.count()
      #expect(before > 0)
      await draining.stop()
      try await group.waitForAll()
    }
    #expect(failures.withLockedValue { $0 } == [])
    #expect(staying.counter.count() > 0)
    await pool.close()
    await staying.stop()
  }

  @Test("a retry policy retries its codes up to its attempts; other codes and other methods are not retried")
  func retryPolicy() async throws {
    let server = try await RestartableServer()
    var configuration = RPCClientPool.Configuration()
    configuration.retryPolicies.idempotentMethods = nil
    configuration.retryPolicies["/emporium.rpc.v1.EchoService/Echo"] = RetryPolicy(
      maxAttempts: 3, backoff: Backoff(initial: .milliseconds(5), maximum: .milliseconds(20)), retryableCodes: [.unavailable])
    let pool = RPCClientPool(endpoints: [server.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    await #expect(throws: RPCError(code: .unavailable, message: "injected")) {
      _ = try await client.echo(Self.echo(failWith: .unavailable))
    }
    #expect(server.counter.count() == 3)
    await #expect(throws: RPCError(code: .internal, message: "injected")) {
      _ = try await client.echo(Self.echo(failWith: .internal))
    }
    #expect(server.counter.count() == 4)
    // No policy for Expand: one attempt.
    var request = Self.echo(failWith: .unavailable)
    request.failWith?.afterResponses = 0
    await #expect(throws: RPCError.self) {
      try await client.expand(request) { responses in for try await _ in responses {} }
    }
    #expect(server.counter.count("Expand") == 1)
    await pool.close()
    await server.stop()
  }

  @Test("the retry budget stops retries from multiplying an outage")
  func retryBudget() async throws {
    let server = try await RestartableServer()
    var configuration = RPCClientPool.Configuration()
    configuration.retryPolicies["emporium.rpc.v1.EchoService"] = RetryPolicy(
      maxAttempts: 5, backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)))
    configuration.retryBudget = RetryBudget(maxTokens: 10, tokenRatio: 0.1)
    let pool = RPCClientPool(endpoints: [server.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    for _ in 0..<40 {
      await #expect(throws: RPCError.self) { _ = try await client.echo(Self.echo(failWith: .unavailable)) }
    }
    // Without a budget 40 calls would make 200 attempts; the budget allows 4 retries in all.
    #expect(server.counter.count() == 44)
    await pool.close()
    await server.stop()
  }

  @Test("a call the server refused for overload is retried transparently; over one connection it fails")
  func refusedIsRetried() async throws {
    let server = try await RestartableServer { $0.maxRunningHandlers = 1 }
    let pool = RPCClientPool(endpoints: [server.endpoint])
    let client = Echo.Client(pool)
    // Occupy the only handler slot for a moment.
    let busy = Task { try await client.echo(Self.echo(delay: .milliseconds(150))) }
    #expect(await eventually { server.counter.count() == 1 })
    try await withConnection(port: server.port) { connection in
      do {
        _ = try await Echo.Client(connection).echo(Self.echo())
        Issue.record("the server took a second call past its handler limit")
      } catch let error as RPCError {
        #expect(error.code == .resourceExhausted)
        #expect(error.refused)
      }
    }
    // Through the pool the refusal is retried after the delay the server asks for.
    let response = try await client.echo(Self.echo("after"))
    #expect(response.message == "after")
    _ = try await busy.value
    await pool.close()
    await server.stop()
  }

  @Test("a DNS name resolves to its addresses and the pool calls them")
  func dnsResolution() async throws {
    let addresses = try await DNSEndpoints(host: "localhost", port: 1).resolve()
    #expect(addresses.contains(Endpoint(host: "127.0.0.1", port: 1)))
    await #expect(throws: RPCError.self) { _ = try await DNSEndpoints(host: "no-such-host.invalid", port: 1).resolve() }
    let server = try await RestartableServer()
    var configuration = RPCClientPool.Configuration()
    Self.fastBackoff(&configuration)
    let pool = RPCClientPool(
      resolver: DNSEndpoints(host: "localhost", port: server.port), configuration: configuration)
    let response = try await Echo.Client(pool).echo(Self.echo("by name"))
    #expect(response.serverInstance == "\(server.port)")
    await pool.close()
    await server.stop()
  }

  /// A resolver whose answer a test changes.
  final class MovingResolver: EndpointResolver {
    let current: NIOLockedValueBox<[Endpoint]>
    init(_ endpoints: [Endpoint]) { current = NIOLockedValueBox(endpoints) }
    func resolve() async throws -> [Endpoint] { current.withLockedValue { $0 } }
  }

  @Test("when the resolver's answer changes, calls move to the new endpoints and old connections close")
  func reResolution() async throws {
    let old = try await RestartableServer()
    let new = try await RestartableServer()
    let resolver = MovingResolver([old.endpoint])
    var configuration = RPCClientPool.Configuration()
    configuration.resolveInterval = .milliseconds(50)
    let pool = RPCClientPool(resolver: resolver, configuration: configuration)
    let client = Echo.Client(pool)
    #expect(try await client.echo(Self.echo()).serverInstance == "\(old.port)")
    resolver.current.withLockedValue { $0 = [new.endpoint] }
    let deadline = ContinuousClock.now + .seconds(5)
    while pool.snapshot().endpoints.map(\.endpoint) != [new.endpoint], ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(try await client.echo(Self.echo()).serverInstance == "\(new.port)")
    #expect(pool.snapshot().endpoints.map(\.endpoint) == [new.endpoint])
    await pool.close()
    await old.stop()
    await new.stop()
  }

  @Test("connections scale up under load and idle ones close again, down to the minimum")
  func scaleUpAndIdleClose() async throws {
    let server = try await RestartableServer { $0.settings.maxConcurrentCalls = 4 }
    var configuration = RPCClientPool.Configuration()
    configuration.maxConnectionsPerEndpoint = 3
    configuration.idleTimeout = .milliseconds(300)
    let pool = RPCClientPool(endpoints: [server.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    let most = NIOLockedValueBox(0)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<12 { group.addTask { _ = try await client.echo(Self.echo(delay: .milliseconds(300))) } }
      group.addTask {
        while !Task.isCancelled {
          let open = pool.snapshot().endpoints.map(\.connections).reduce(0, +)
          most.withLockedValue { $0 = max($0, open) }
          try? await Task.sleep(for: .milliseconds(5))
        }
      }
      for _ in 0..<12 { try await group.next() }
      group.cancelAll()
    }
    // Four calls per connection: twelve calls need three connections (the maximum).
    #expect(most.withLockedValue { $0 } == 3)
    let deadline = ContinuousClock.now + .seconds(5)
    while pool.snapshot().endpoints.map(\.connections) != [1], ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(pool.snapshot().endpoints.map(\.connections) == [1])
    await pool.close()
    await server.stop()
  }

  @Test("churn leaves nothing behind: after bursts that queue, time out and cancel, the pool holds no records")
  func churnLeavesNothingBehind() async throws {
    let server = try await RestartableServer { $0.settings.maxConcurrentCalls = 2 }
    var configuration = RPCClientPool.Configuration()
    configuration.minConnectionsPerEndpoint = 0
    configuration.maxConnectionsPerEndpoint = 2
    configuration.idleTimeout = .milliseconds(50)
    let pool = RPCClientPool(endpoints: [server.endpoint], configuration: configuration)
    let client = Echo.Client(pool)
    for _ in 0..<10 {
      await withTaskGroup(of: Void.self) { group in
        // Twelve calls for four slots: some wait, some time out waiting, some are cancelled.
        for index in 0..<12 {
          group.addTask {
            let timeout: Duration = index % 3 == 0 ? .milliseconds(5) : .seconds(5)
            _ = try? await client.echo(Self.echo(delay: .milliseconds(10)), options: CallOptions(timeout: timeout))
          }
        }
        let cancelled = Task { _ = try? await client.echo(Self.echo(delay: .milliseconds(10))) }
        cancelled.cancel()
        await cancelled.value
        await group.waitForAll()
      }
      #expect(await eventually { pool.snapshot().endpoints.map(\.connections) == [0] })
    }
    #expect(pool.waitingRecords == 0)
    #expect(pool.snapshot().queuedCalls == 0)
    #expect(pool.snapshot().endpoints.map(\.inFlight) == [0])
    await pool.close()
    await server.stop()
  }
}

@Suite("Client pool metrics")
struct PoolMetricsTests {
  @Test("the pool counts calls once per call, retries by reason, connections per endpoint and queue wait")
  func poolMetrics() async throws {
    let server = try await PoolTests.RestartableServer { $0.settings.maxConcurrentCalls = 1 }
    let metrics = TestMetrics()
    var configuration = RPCClientPool.Configuration()
    configuration.connection.metricsFactory = metrics
    configuration.maxConnectionsPerEndpoint = 1
    configuration.retryPolicies["/emporium.rpc.v1.EchoService/Echo"] = RetryPolicy(
      maxAttempts: 3, backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)))
    let pool = RPCClientPool(endpoints: [server.endpoint], configuration: configuration)
    let client = RpcV1.EchoService.Client(pool)
    let path = RpcV1.EchoService.Echo.descriptor.path
    // Two calls for one slot: one waits in the queue.
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<2 { group.addTask { _ = try await client.echo(PoolTests.echo(delay: .milliseconds(50))) } }
      try await group.waitForAll()
    }
    await #expect(throws: RPCError.self) { _ = try await client.echo(PoolTests.echo(failWith: .unavailable)) }
    // Once per call, whatever the attempts: the failed call is one UNAVAILABLE, not three.
    #expect(try metrics.expectCounter("rpc_client_calls_total", [("method", path), ("code", "OK")]).totalValue == 2)
    #expect(try metrics.expectCounter("rpc_client_calls_total", [("method", path), ("code", "UNAVAILABLE")]).totalValue == 1)
    #expect(try metrics.expectCounter("rpc_client_retries_total", [("method", path), ("reason", "policy")]).totalValue == 2)
    #expect(try metrics.expectGauge("rpc_client_pool_connections", [("endpoint", "\(server.endpoint)")]).lastValue == 1)
    let waits = try metrics.expectTimer("rpc_client_pool_queue_wait_seconds").values
    #expect(waits.count >= 2)  // the first call waited for the connect, the second for the slot
    #expect(waits.contains { $0 >= 30_000_000 })  // the slot was busy for about 50 ms
    await pool.close()
    await server.stop()
  }
}

@Suite("Connection lifetime")
struct ConnectionLifetimeTests {
  /// Weak reference to a connection handler.
  final class WeakHandler: @unchecked Sendable {
    weak var handler: ClientConnectionHandler?
    init(_ handler: ClientConnectionHandler) { self.handler = handler }
  }

  @Test("a closed connection's handler is freed (pools that churn connections do not grow)")
  func closedConnectionIsFreed() async throws {
    try await withServer { _, port in
      var weak: WeakHandler?
      do {
        let connection = try await RPCConnection.connect(host: "127.0.0.1", port: port)
        _ = try await RpcV1.EchoService.Client(connection).echo(.init())
        weak = WeakHandler(connection.handler)
        await connection.close()
      }
      #expect(await eventually { weak?.handler == nil })
      #expect(weak?.handler == nil)
    }
  }
}
