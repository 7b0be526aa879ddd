public import CoreMetrics
import NIOCore
import Synchronization

/// The names and labels of every metric Emporium records, and the Prometheus set-up that suits
/// them. docs/OBSERVABILITY.md lists them with their meaning.
///
/// Metrics go to a swift-metrics `MetricsFactory`: the one a server or connection is configured
/// with, else the factory `MetricsSystem` has when it is created (bootstrapped, or bound for a
/// scope with `withMetricsFactory`). With no backend bootstrapped (swift-metrics' no-op factory)
/// nothing is created and calls pay for one branch.
public enum RPCMetrics {
  // MARK: Server

  /// Calls a server ended, by `method` and `code`. Counter.
  public static let serverCalls = "rpc_server_calls_total"
  /// Calls a server's handlers are serving now, by `method`. Gauge (swift-metrics `Meter`).
  public static let serverInFlight = "rpc_server_in_flight"
  /// How long a handler ran, from when the call was routed to its status, by `method` and
  /// `code`. Histogram (swift-metrics `Timer`), in seconds.
  public static let serverCallDuration = "rpc_server_call_duration_seconds"
  /// Bytes a server moved, by `direction` (`sent`, `received`) and `stage` (`wire`: on the
  /// socket, compressed; `plain`: frames before compression). Counter.
  public static let serverBytes = "rpc_server_bytes_total"
  /// Open server connections. Gauge (swift-metrics `Meter`).
  public static let serverConnections = "rpc_server_connections"

  // MARK: Client

  /// Calls a client made, by `method` and `code`. Counter.
  public static let clientCalls = "rpc_client_calls_total"
  /// Calls a client is waiting on now, by `method`. Gauge (swift-metrics `Meter`).
  public static let clientInFlight = "rpc_client_in_flight"
  /// How long a call took as the caller saw it, by `method` and `code`. Histogram, in seconds.
  public static let clientCallDuration = "rpc_client_call_duration_seconds"
  /// Bytes client connections moved, by `direction` and `stage` as for ``serverBytes``. Counter.
  public static let clientBytes = "rpc_client_bytes_total"

  // MARK: Client pool (recorded by the connection pool)

  /// Open pool connections, by `endpoint` (`host:port`). Gauge.
  public static let clientPoolConnections = "rpc_client_pool_connections"
  /// How long a call waited for a pool connection with free capacity. Histogram, in seconds.
  public static let clientPoolQueueWait = "rpc_client_pool_queue_wait_seconds"
  /// Calls the pool sent again, by `method` and `reason` (for example `refused`). Counter.
  public static let clientRetries = "rpc_client_retries_total"

  // MARK: Labels

  /// The method's path, `/package.Service/Method`; ``unknownMethod`` for a path the server does
  /// not host (so a caller cannot grow the number of series).
  public static let methodLabel = "method"
  /// The status code's canonical name, `OK`, `NOT_FOUND`, ...
  public static let codeLabel = "code"
  /// `sent` or `received`.
  public static let directionLabel = "direction"
  /// `wire` or `plain`.
  public static let stageLabel = "stage"
  /// A pool endpoint, `host:port`.
  public static let endpointLabel = "endpoint"
  /// Why a call was retried.
  public static let reasonLabel = "reason"
  /// The `method` label of calls to a path the server does not host.
  public static let unknownMethod = "unknown"
}

extension RPCMetrics {
  /// Whether `factory` records anything (it is not swift-metrics' no-op factory).
  static func records(_ factory: any MetricsFactory) -> Bool {
    !(factory is NOOPMetricsHandler)
  }

  /// The status a client call ended with, for its metrics: the code of an ``RPCError``,
  /// CANCELLED for a cancelled task, UNKNOWN for anything else.
  static func code(of error: any Error) -> RPCStatusCode {
    switch error {
    case let error as RPCError: error.code
    case is CancellationError: .cancelled
    default: .unknown
    }
  }

  /// Now, in nanoseconds of a monotonic clock, for durations.
  @inline(__always)
  static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}

/// Calls, calls in flight and durations for one method on one side (server or client), by
/// status code. The series for a code are created the first time a call ends with it, so an
/// exporter shows only codes that happened; after that, recording is two atomic loads and the
/// backend's own updates.
final class MethodMetrics: Sendable {
  struct Names: Sendable {
    let calls: String
    let inFlight: String
    let duration: String

    static let server = Names(
      calls: RPCMetrics.serverCalls, inFlight: RPCMetrics.serverInFlight, duration: RPCMetrics.serverCallDuration)
    static let client = Names(
      calls: RPCMetrics.clientCalls, inFlight: RPCMetrics.clientInFlight, duration: RPCMetrics.clientCallDuration)
  }

  /// The series of one method and code.
  final class ByCode: Sendable {
    let calls: Counter
    let duration: CoreMetrics.Timer

    init(names: Names, method: String, code: RPCStatusCode, factory: any MetricsFactory) {
      let dimensions = [(RPCMetrics.methodLabel, method), (RPCMetrics.codeLabel, code.name)]
      calls = Counter(label: names.calls, dimensions: dimensions, factory: factory)
      duration = CoreMetrics.Timer(label: names.duration, dimensions: dimensions, factory: factory)
    }
  }

  let method: String
  let inFlight: Meter
  private let names: Names
  private let factory: any MetricsFactory
  /// One slot per status code (raw values 0...16).
  private let codes: [LazyReference<ByCode>]

  init(names: Names, method: String, factory: any MetricsFactory) {
    self.names = names
    self.method = method
    self.factory = factory
    self.inFlight = Meter(label: names.inFlight, dimensions: [(RPCMetrics.methodLabel, method)], factory: factory)
    self.codes = RPCStatusCode.allCases.map { _ in LazyReference() }
  }

  func byCode(_ code: RPCStatusCode) -> ByCode {
    codes[Int(code.rawValue)].get { ByCode(names: names, method: method, code: code, factory: factory) }
  }

  /// A call started: returns its start time for ``finished(_:startedAt:)``.
  @inline(__always)
  func started() -> UInt64 {
    inFlight.increment()
    return RPCMetrics.now()
  }

  /// A call that ``started()`` ended with `code`.
  func finished(_ code: RPCStatusCode, startedAt start: UInt64) {
    let elapsed = RPCMetrics.now() &- start
    inFlight.decrement()
    let series = byCode(code)
    series.calls.increment()
    series.duration.recordNanoseconds(Int64(clamping: elapsed))
  }

  /// A call refused before any handler ran: counted, but not in flight and without a duration.
  func refused(_ code: RPCStatusCode) {
    byCode(code).calls.increment()
  }
}

/// Byte counters by direction and stage.
struct ByteCounters: Sendable {
  let wireSent: Counter
  let wireReceived: Counter
  let plainSent: Counter
  let plainReceived: Counter

  init(label: String, factory: any MetricsFactory) {
    func counter(_ direction: String, _ stage: String) -> Counter {
      Counter(
        label: label, dimensions: [(RPCMetrics.directionLabel, direction), (RPCMetrics.stageLabel, stage)],
        factory: factory)
    }
    wireSent = counter("sent", "wire")
    wireReceived = counter("received", "wire")
    plainSent = counter("sent", "plain")
    plainReceived = counter("received", "plain")
  }

  /// Adds what a connection moved since its last report.
  func add(wireSent: Int, plainSent: Int) {
    if wireSent > 0 { self.wireSent.increment(by: wireSent) }
    if plainSent > 0 { self.plainSent.increment(by: plainSent) }
  }

  func add(wireReceived: Int, plainReceived: Int) {
    if wireReceived > 0 { self.wireReceived.increment(by: wireReceived) }
    if plainReceived > 0 { self.plainReceived.increment(by: plainReceived) }
  }
}

/// A reference created on first use, once, without a lock: readers after that pay one atomic
/// load.
final class LazyReference<Value: AnyObject & Sendable>: Sendable {
  private let storage = Atomic<Unmanaged<Value>?>(nil)

  init() {}

  func get(orCreate make: () -> Value) -> Value {
    if let existing = storage.load(ordering: .acquiring) { return existing.takeUnretainedValue() }
    let created = Unmanaged.passRetained(make())
    let (exchanged, current) = storage.compareExchange(
      expected: nil, desired: created, ordering: .acquiringAndReleasing)
    if exchanged { return created.takeUnretainedValue() }
    created.release()
    return current!.takeUnretainedValue()
  }

  deinit {
    storage.load(ordering: .acquiring)?.release()
  }
}
