import Foundation
import Messages
import NIOConcurrencyHelpers
import RPC
import TestSupport
import Testing

/// The client pool against real `emporium serve` processes that die and restart under load.
@Suite("Pool resilience against server processes", .serialized)
struct PoolResilienceTests {
  typealias Echo = RpcV1.EchoService

  /// `emporium serve --no-database` on `port`, once it answers health checks.
  static func startServer(port: Int) async throws -> Process {
    let process = Process()
    process.executableURL = ServeCommandTests.executable
    process.arguments = ["serve", "--no-database", "--echo", "--listen", "127.0.0.1:\(port)", "--drain-timeout", "5"]
    process.standardError = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let serving = await eventually(within: .seconds(30), every: .milliseconds(50)) {
      guard let connection = try? await RPCConnection.connect(host: "127.0.0.1", port: port) else { return false }
      let status = try? await RpcV1.HealthService.Client(connection).check(.init()).status
      await connection.close()
      return status == .serving
    }
    if serving { return process }
    process.terminate()
    throw RPCError(code: .unavailable, message: "emporium serve did not start on port \(port)")
  }

  /// What callers saw during a load run.
  struct Outcomes: Sendable {
    var succeeded = 0
    var failures: [String: Int] = [:]
    /// Calls that returned later than their deadline (plus slack for a loaded machine).
    var late = 0
    /// Server process ids that answered, in order of first answer.
    var instances: [String] = []
  }

  /// `tasks` callers making echo calls (each with `timeout`) until `stop` returns true.
  static func load(
    _ client: Echo.Client, tasks: Int = 16, timeout: Duration = .seconds(2),
    into outcomes: NIOLockedValueBox<Outcomes> = NIOLockedValueBox(Outcomes()), until stop: @escaping @Sendable () -> Bool
  ) async -> Outcomes {
    await withTaskGroup(of: Void.self) { group in
      for _ in 0..<tasks {
        group.addTask {
          while !stop() {
            let start = ContinuousClock.now
            var request = RpcV1.EchoRequest()
            request.message = "load"
            request.responseDelay = .with { $0.nanos = 2_000_000 }
            do {
              let response = try await client.echo(request, options: CallOptions(timeout: timeout))
              outcomes.withLockedValue {
                $0.succeeded += 1
                if !$0.instances.contains(response.serverInstance) { $0.instances.append(response.serverInstance) }
              }
            } catch let error as RPCError {
              outcomes.withLockedValue { $0.failures[error.code.name, default: 0] += 1 }
            } catch {
              outcomes.withLockedValue { $0.failures["\(error)", default: 0] += 1 }
            }
            if ContinuousClock.now - start > timeout + .milliseconds(500) { outcomes.withLockedValue { $0.late += 1 } }
          }
        }
      }
    }
    return outcomes.withLockedValue { $0 }
  }

  static func instance(of process: Process) -> String {
    var host = [CChar](repeating: 0, count: 256)
    gethostname(&host, host.count - 1)
    return "\(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)):\(process.processIdentifier)"
  }

  static func pool(_ ports: [Int], retry: Bool) -> RPCClientPool {
    var configuration = RPCClientPool.Configuration()
    configuration.reconnectBackoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(500), multiplier: 2, jitter: 0.2)
    // Echo is declared free of side effects, so the default policy retries it; without
    // retries, calls in flight on a killed server must surface as UNAVAILABLE.
    if !retry { configuration.retryPolicies.idempotentMethods = nil }
    return RPCClientPool(endpoints: ports.map { Endpoint(host: "127.0.0.1", port: $0) }, configuration: configuration)
  }

  @Test("SIGKILL under load: calls fail with UNAVAILABLE or succeed elsewhere, none past its deadline; the pool reconnects when the server returns")
  func killedServer() async throws {
    let ports = [try ServeCommandTests.freePort(), try ServeCommandTests.freePort()]
    var victim = try await Self.startServer(port: ports[0])
    let survivor = try await Self.startServer(port: ports[1])
    defer {
      victim.terminate()
      survivor.terminate()
    }
    // No retry policy: the calls in flight on the killed server must surface as UNAVAILABLE.
    let pool = Self.pool(ports, retry: false)
    let client = Echo.Client(pool)
    let stop = NIOLockedValueBox(false)
    let progress = NIOLockedValueBox(Outcomes())
    // Calls get 5 s: a call that finds no server must fail fast with UNAVAILABLE, never run out
    // its deadline, even on a loaded machine.
    async let outcomes = Self.load(client, timeout: .seconds(5), into: progress) { stop.withLockedValue { $0 } }
    // Kill one server once both serve, then wait until the pool has noticed.
    #expect(await eventually(within: .seconds(30)) { progress.withLockedValue { $0.instances.count == 2 } })
    kill(victim.processIdentifier, SIGKILL)
    await victim.exited()
    #expect(await eventually(within: .seconds(30)) { pool.snapshot().endpoints.contains { $0.ejected } })
    // Back on the same port: the pool probes it back and calls reach it again.
    victim = try await Self.startServer(port: ports[0])
    let returned = Self.instance(of: victim)
    #expect(await eventually(within: .seconds(30)) { progress.withLockedValue { $0.instances.contains(returned) } })
    stop.withLockedValue { $0 = true }
    let result = await outcomes
    #expect(result.succeeded > 100)
    #expect(Set(result.failures.keys).isSubset(of: ["UNAVAILABLE"]), "failures: \(result.failures)")
    #expect(result.late == 0)
    #expect(result.instances.contains(returned), "the restarted server got no calls: \(result.instances)")
    await pool.close()
  }

  @Test("rolling graceful restarts under load: zero failed calls for an idempotent method")
  func rollingRestart() async throws {
    let ports = [try ServeCommandTests.freePort(), try ServeCommandTests.freePort()]
    var servers = [try await Self.startServer(port: ports[0]), try await Self.startServer(port: ports[1])]
    defer { for server in servers { server.terminate() } }
    let pool = Self.pool(ports, retry: true)
    let client = Echo.Client(pool)
    let stop = NIOLockedValueBox(false)
    let progress = NIOLockedValueBox(Outcomes())
    async let outcomes = Self.load(client, timeout: .seconds(5), into: progress) { stop.withLockedValue { $0 } }
    var restarted: [String] = []
    for index in servers.indices {
      // Restart a server once every server up now has answered calls.
      let serving = Set(servers.map { Self.instance(of: $0) })
      #expect(await eventually(within: .seconds(30)) {
        serving.isSubset(of: progress.withLockedValue { Set($0.instances) })
      })
      kill(servers[index].processIdentifier, SIGTERM)
      await servers[index].exited()
      #expect(servers[index].terminationStatus == 0)
      servers[index] = try await Self.startServer(port: ports[index])
      restarted.append(Self.instance(of: servers[index]))
    }
    let serving = Set(servers.map { Self.instance(of: $0) })
    #expect(await eventually(within: .seconds(30)) { serving.isSubset(of: progress.withLockedValue { Set($0.instances) }) })
    stop.withLockedValue { $0 = true }
    let result = await outcomes
    #expect(result.failures == [:])
    #expect(result.succeeded > 100)
    for instance in restarted { #expect(result.instances.contains(instance)) }
    await pool.close()
  }
}
