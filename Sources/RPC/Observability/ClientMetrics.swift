import CoreMetrics
import Messages
import Synchronization

/// A client's metrics (``RPCMetrics``): per method, created on a method's first call and then
/// found by its path; byte counters for its connections.
///
/// ``ClientPipeline`` records the calls; every client transport passes its own instance (a
/// connection, the pool, the in-process transport), made from the factory it was configured
/// with. The pool records its own metrics (``RPCMetrics/clientPoolConnections``,
/// ``RPCMetrics/clientPoolQueueWait``, ``RPCMetrics/clientRetries``) through ``factory``.
final class ClientMetrics: Sendable {
  /// Where this client's metrics go.
  let factory: any MetricsFactory
  /// Whether anything is recorded (false for swift-metrics' no-op factory).
  let isRecording: Bool
  let bytes: ByteCounters?
  private let methods = Mutex<[String: MethodMetrics]>([:])

  init(factory: any MetricsFactory) {
    self.factory = factory
    isRecording = RPCMetrics.records(factory)
    bytes = isRecording ? ByteCounters(label: RPCMetrics.clientBytes, factory: factory) : nil
  }

  /// `configured`, else the factory `MetricsSystem` has now.
  convenience init(configured: (any MetricsFactory)?) {
    self.init(factory: configured ?? MetricsSystem.factory)
  }

  /// For transports that were given none: the factory `MetricsSystem` had when first used.
  static let global = ClientMetrics(factory: MetricsSystem.factory)

  /// The metrics of `method`.
  func method(_ method: ProtoMethodDescriptor) -> MethodMetrics {
    methods.withLock { methods in
      if let existing = methods[method.path] { return existing }
      let created = MethodMetrics(names: .client, method: method.path, factory: factory)
      methods[method.path] = created
      return created
    }
  }
}
