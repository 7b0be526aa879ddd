import ArgumentParser
import BenchSupport
import Foundation
import Logging
import Messages
import NIOCore
import NIOPosix
import RPC
import Synchronization

/// `echo-bench soak-client`: the client process of `soak` (not meant to be run by hand).
///
/// One `RPCClientPool` over the servers of `--ports`, configured to churn connections: no
/// connection kept when idle (`minConnectionsPerEndpoint` 0), a short idle timeout, up to
/// `--max-connections-per-endpoint` per server. It loops until stdin says `stop` (or closes):
/// a burst of 1...`--max-callers` concurrent callers (drawn from a fixed-seed generator), each
/// making unary echo calls (100 B of text, the server waits `--response-delay-ms` before
/// answering) for 0.2...2 s, then a pause of `--pause-ms`, long enough for every connection to
/// close. Against servers that announce a low concurrent-call limit, bursts scale the pool up to
/// several connections per server; pauses close them all.
///
/// On each `sample` line from stdin it prints one JSON line (``Sample``): calls so far, errors,
/// connections, its VmRSS and (with the allocation counter and `ECHO_BENCH_MALLOC_BYTES`) live
/// heap bytes. On `stop` it finishes the current burst, closes the pool, and prints a last
/// sample. It prints `STARTED` once the pool exists.
///
/// Connections are counted from outside the pool, which does not count them: connection
/// attempts are the event loops the pool takes from its group (one per `RPCConnection.connect`,
/// plus one for its timers at start, not counted), closes are the pool's "connection closed"
/// debug log messages, and connections opened = closed + open now (`snapshot()`).
struct SoakClientCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "soak-client", abstract: "The client process of `soak`.", shouldDisplay: false)

  @Option(help: "Comma-separated ports of the servers on 127.0.0.1.") var ports: String
  @Option(help: "The pool's idle timeout, in milliseconds.") var idleTimeoutMs = 100
  @Option(help: "The most connections the pool opens to one server.") var maxConnectionsPerEndpoint = 4
  @Option(help: "The most concurrent callers in a burst.") var maxCallers = 64
  @Option(help: "How long the server waits before each response, in milliseconds.") var responseDelayMs = 1
  @Option(help: "The pause between bursts, in milliseconds.") var pauseMs = 400
  @Option(help: "Seed of the burst sizes and lengths.") var seed: UInt64 = 1

  /// One sample of the client's state.
  struct Sample: Codable {
    var seconds: Double
    var calls: Int
    var errors: Int
    var bursts: Int
    var connectAttempts: Int
    var connectionsClosed: Int
    var connectionsOpen: Int
    var connectionsOpened: Int
    var ejections: Int
    var transparentRetries: Int
    var residentKiB: Int
    var heapLiveBytes: Int64?
    /// Failed calls by status code.
    var failures: [String: Int]
  }

  func validate() throws {
    guard !portList.isEmpty else { throw ValidationError("--ports: e.g. 24200,24201") }
    guard maxCallers >= 1, maxConnectionsPerEndpoint >= 1, idleTimeoutMs >= 1, pauseMs >= 0, responseDelayMs >= 0 else {
      throw ValidationError("--max-callers, --max-connections-per-endpoint and --idle-timeout-ms must be positive")
    }
  }

  private var portList: [Int] { ports.split(separator: ",").compactMap { Int($0) } }

  func run() async throws {
    let counters = SoakCounters()
    let group = CountingEventLoopGroup(MultiThreadedEventLoopGroup.singleton)
    var configuration = RPCClientPool.Configuration()
    configuration.connection.settings.compression = [.none]
    configuration.minConnectionsPerEndpoint = 0
    configuration.maxConnectionsPerEndpoint = maxConnectionsPerEndpoint
    configuration.idleTimeout = .milliseconds(idleTimeoutMs)
    configuration.reconnectBackoff = Backoff(initial: .milliseconds(50), maximum: .seconds(1), multiplier: 2, jitter: 0.2)
    // Echo is idempotent: calls that fail while a server restarts are retried elsewhere.
    configuration.retryPolicies["emporium.rpc.v1.EchoService"] = RetryPolicy(maxAttempts: 3)
    let logger = Logger(label: "echo-bench.soak-client") { _ in CountingLogHandler(counters) }
    let pool = RPCClientPool(
      endpoints: portList.map { Endpoint(host: "127.0.0.1", port: $0) }, configuration: configuration, group: group,
      logger: logger)
    let client = RpcV1.EchoService.Client(pool)
    let started = monotonicNanoseconds()

    @Sendable func sample() -> Sample {
      let open = pool.snapshot().endpoints.reduce(0) { $0 + $1.connections }
      let closed = counters.count("connection closed")
      return Sample(
        seconds: Double(monotonicNanoseconds() - started) / 1e9, calls: counters.calls.load(ordering: .relaxed),
        errors: counters.errors.load(ordering: .relaxed), bursts: counters.bursts.load(ordering: .relaxed),
        connectAttempts: group.nexts - 1, connectionsClosed: closed, connectionsOpen: open,
        connectionsOpened: closed + open, ejections: counters.count("endpoint ejected"),
        transparentRetries: counters.count("retrying a refused call"), residentKiB: ProcFS.ownResidentKiB() ?? 0,
        heapLiveBytes: MallocCounts.current()?.liveBytes, failures: counters.failures.withLock { $0 })
    }
    @Sendable func emit(_ sample: Sample) {
      emitLine(String(decoding: (try? JSONEncoder().encode(sample)) ?? Data(), as: UTF8.self))
    }

    // Commands on stdin, on a thread of their own (samples are taken there, while calls run).
    Thread.detachNewThread {
      while let line = readLine() {
        if line == "sample" { emit(sample()) }
        if line == "stop" { break }
      }
      counters.stop.store(true, ordering: .relaxed)
    }
    emitLine("STARTED")

    let payloads = PayloadPool(size: 100)
    let delay = GoogleProtobuf.Duration.with { $0.nanos = Int32(responseDelayMs * 1_000_000) }
    var generator = SplitMixGenerator(seed: seed)
    while !counters.stop.load(ordering: .relaxed) {
      let callers = 1 + Int(generator.next() % UInt64(maxCallers))
      let end = monotonicNanoseconds() + 200_000_000 + generator.next() % 1_800_000_000
      await withTaskGroup(of: Void.self) { tasks in
        for caller in 0..<callers {
          tasks.addTask {
            var request = RpcV1.EchoRequest()
            if delay.nanos > 0 { request.responseDelay = delay }
            var next = caller &* 7_919
            while monotonicNanoseconds() < end && !counters.stop.load(ordering: .relaxed) {
              request.payload = payloads[next]
              next &+= 1
              do {
                let response = try await client.echo(request, options: CallOptions(timeout: .seconds(10)))
                if response.payload.count != request.payload.count { counters.failed("wrong payload") }
                counters.calls.add(1, ordering: .relaxed)
              } catch let error as RPCError {
                counters.failed(error.code.name)
              } catch {
                counters.failed("\(error)")
              }
            }
          }
        }
      }
      counters.bursts.add(1, ordering: .relaxed)
      try? await Task.sleep(for: .milliseconds(pauseMs))
    }
    await pool.close()
    try? await Task.sleep(for: .milliseconds(500))
    emit(sample())
  }
}

/// What the soak client counts, shared by its callers, its log handler and its sampler.
final class SoakCounters: Sendable {
  let calls = Atomic<Int>(0)
  let errors = Atomic<Int>(0)
  let bursts = Atomic<Int>(0)
  /// Set when stdin says `stop` (or closes): callers finish their current call.
  let stop = Atomic<Bool>(false)
  let failures = Mutex<[String: Int]>([:])
  /// Log messages by text.
  let messages = Mutex<[String: Int]>([:])

  func failed(_ reason: String) {
    errors.add(1, ordering: .relaxed)
    failures.withLock { $0[reason, default: 0] += 1 }
  }

  func count(_ message: String) -> Int { messages.withLock { $0[message] ?? 0 } }
}

/// Counts log messages by text (the pool logs each connection it sees close, at debug level);
/// prints nothing.
struct CountingLogHandler: LogHandler {
  let counters: SoakCounters
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  init(_ counters: SoakCounters) { self.counters = counters }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let text = event.message.description
    counters.messages.withLock { $0[text, default: 0] += 1 }
  }
}

/// An event loop group that counts `next()`: the pool takes one loop for its timers and one for
/// every connection it opens. Never shuts its base down.
final class CountingEventLoopGroup: EventLoopGroup, Sendable {
  private let base: any EventLoopGroup
  private let count = Atomic<Int>(0)

  init(_ base: any EventLoopGroup) { self.base = base }

  /// Calls of `next()` so far.
  var nexts: Int { count.load(ordering: .relaxed) }

  func next() -> any EventLoop {
    count.add(1, ordering: .relaxed)
    return base.next()
  }

  func any() -> any EventLoop { base.any() }

  func makeIterator() -> EventLoopIterator { base.makeIterator() }

  func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
    queue.async { callback(nil) }
  }
}
