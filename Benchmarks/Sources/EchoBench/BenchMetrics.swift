import CoreMetrics
import Foundation
import Prometheus
import RPC

/// `ECHO_BENCH_METRICS=prometheus` (inherited by the server and client processes): Emporium's
/// metrics go to a Prometheus registry, as in `emporium serve --metrics-port`, instead of
/// swift-metrics' no-op default. Measures what recording costs.
enum BenchMetrics {
  static func bootstrapIfRequested() {
    guard ProcessInfo.processInfo.environment["ECHO_BENCH_METRICS"] == "prometheus" else { return }
    MetricsSystem.bootstrap(RPCMetrics.prometheusFactory(registry: PrometheusCollectorRegistry()))
  }
}
