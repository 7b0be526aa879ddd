public import Prometheus

extension RPCMetrics {
  /// The histogram buckets of the duration histograms: RPCs on a local network take from tens of
  /// microseconds to seconds, finer than Prometheus' default buckets (5 ms to 10 s).
  public static let durationBuckets: [Duration] = [
    .microseconds(100), .microseconds(250), .microseconds(500),
    .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
    .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
    .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
  ]

  /// A swift-prometheus factory over `registry` with ``durationBuckets`` for the RPC duration
  /// histograms; bootstrap it (`MetricsSystem.bootstrap`) and serve `registry` with
  /// ``MetricsEndpoint``.
  public static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
    var factory = PrometheusMetricsFactory(registry: registry)
    for label in [serverCallDuration, clientCallDuration, clientPoolQueueWait] {
      factory.durationHistogramBuckets[label] = durationBuckets
    }
    return factory
  }
}
