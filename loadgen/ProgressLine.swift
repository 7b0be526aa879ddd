import Foundation
import Histogram
import LoadCore
import Synchronization

/// The live progress line on a terminal (stderr, rewritten in place each interval): elapsed and
/// remaining time, offered and achieved journey rates, the interval's p50/p99 of the journeys
/// (corrected), errors, late and dropped sends.
final class ProgressLine: Sendable {
  private let enabled: Bool
  private let total: Double
  private let shown = Atomic<Bool>(false)

  init(enabled: Bool, total: Double) {
    self.enabled = enabled
    self.total = total
  }

  func update(_ snapshot: IntervalSnapshot) {
    guard enabled else { return }
    FileHandle.standardError.write(Data(("\r\u{1B}[2K" + Self.text(snapshot, total: total)).utf8))
    shown.store(true, ordering: .relaxed)
  }

  /// The line for `snapshot` of a run `total` seconds long (warm-up included).
  static func text(_ snapshot: IntervalSnapshot, total: Double) -> String {
    let stats = snapshot.stats
    var journeys = LatencyHistogram.latency()
    var errors: UInt64 = 0
    for (key, histogram) in snapshot.histograms where !key.operation.contains(".") {
      journeys.add(histogram)
      if !key.isOK { errors += histogram.totalCount }
    }
    let elapsed = stats.start + stats.length
    let length = max(stats.length, 0.001)
    var line = String(format: "%5.0fs elapsed, %4.0fs left", elapsed, max(0, total - elapsed))
    line += stats.warmup ? " (warm-up)" : ""
    line += String(
      format: " | offered %.0f/s, achieved %.0f/s | p50 %.2f ms, p99 %.2f ms | errors %llu",
      Double(stats.offered) / length, Double(journeys.totalCount) / length,
      Double(journeys.valueAtPercentile(50)) / 1_000, Double(journeys.valueAtPercentile(99)) / 1_000, errors)
    if stats.late > 0 || stats.dropped > 0 { line += " | late \(stats.late), dropped \(stats.dropped)" }
    return line
  }

  func finish() {
    if shown.load(ordering: .relaxed) { FileHandle.standardError.write(Data("\n".utf8)) }
  }
}
