import Testing

@testable import LoadCore
@testable import loadgen

/// The live progress line says what a run is doing each second: elapsed and remaining time,
/// offered and achieved rates, the journeys' p50 and p99, errors, late and dropped sends.
@Suite struct ProgressLineTests {
  @Test func saysTimeRatesPercentilesErrorsAndLateSends() {
    var ok = LatencyHistogram.latency()
    for _ in 0..<90 { ok.recordNanoseconds(1_000_000) }  // 1 ms
    var failed = LatencyHistogram.latency()
    for _ in 0..<8 { failed.recordNanoseconds(5_000_000) }  // 5 ms
    var step = LatencyHistogram.latency()
    for _ in 0..<500 { step.recordNanoseconds(40_000_000) }  // a step's calls are not journeys
    let snapshot = IntervalSnapshot(
      stats: IntervalStats(
        start: 2, length: 1, warmup: false, offered: 100, sent: 98, late: 3, dropped: 2, scheduled: 100, operations: [:]),
      histograms: [
        OperationKey(operation: "echo", status: "OK"): ok, OperationKey(operation: "echo", status: "UNAVAILABLE"): failed,
        OperationKey(operation: "echo.echo", status: "OK"): step,
      ],
      measuredHistograms: [:])
    let line = ProgressLine.text(snapshot, total: 10)
    #expect(line.contains("3s elapsed,    7s left"), "\(line)")
    #expect(line.contains("offered 100/s, achieved 98/s"), "\(line)")
    #expect(line.contains("p50 1.00 ms, p99 5.00 ms"), "\(line)")
    #expect(line.contains("errors 8"), "\(line)")
    #expect(line.contains("late 3, dropped 2"), "\(line)")
    #expect(!line.contains("warm-up"))

    var warming = snapshot
    warming.stats.warmup = true
    warming.stats.late = 0
    warming.stats.dropped = 0
    let early = ProgressLine.text(warming, total: 10)
    #expect(early.contains("(warm-up)"))
    #expect(!early.contains("late"))
  }
}
