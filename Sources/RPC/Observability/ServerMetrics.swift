import CoreMetrics

/// A server's metrics (``RPCMetrics``): per hosted method, created when the server is; bytes and
/// connections for the whole server. Nil members when the factory records nothing.
final class ServerMetrics: Sendable {
  /// The metrics of calls to paths the server does not host (`method="unknown"`).
  let unknownMethod: MethodMetrics?
  let bytes: ByteCounters?
  let connections: Meter?
  private let factory: any MetricsFactory

  init(factory: any MetricsFactory) {
    self.factory = factory
    guard RPCMetrics.records(factory) else {
      unknownMethod = nil
      bytes = nil
      connections = nil
      return
    }
    unknownMethod = MethodMetrics(names: .server, method: RPCMetrics.unknownMethod, factory: factory)
    bytes = ByteCounters(label: RPCMetrics.serverBytes, factory: factory)
    connections = Meter(label: RPCMetrics.serverConnections, factory: factory)
  }

  var isRecording: Bool { bytes != nil }

  /// The metrics of a hosted method (nil when nothing is recorded).
  func method(_ path: String) -> MethodMetrics? {
    guard isRecording else { return nil }
    return MethodMetrics(names: .server, method: path, factory: factory)
  }
}
