import Histogram
import Testing

@testable import LoadCore

@Suite struct MergeTests {
  /// Three workers (or processes) record their own samples; their histograms merged equal one
  /// histogram that recorded every sample, for every operation and status.
  @Test func mergedWorkersEqualOneHistogramOfAllSamples() throws {
    let recorder = LoadRecorder(shards: 3)
    var reference: [OperationKey: LatencyPair] = [:]
    var random = SplitMix64(seed: 42)
    let keys = [
      OperationKey(operation: "checkout", status: "OK"), OperationKey(operation: "checkout.login", status: "OK"),
      OperationKey(operation: "checkout", status: "UNAVAILABLE"),
    ]
    for i in 0..<30_000 {
      let key = keys[Int(random.next() % 3)]
      let uncorrected = 50_000 + random.next() % 20_000_000
      let corrected = uncorrected + (i % 100 == 0 ? random.next() % 2_000_000_000 : 0)
      recorder.record(worker: i % 3, key: key, corrected: corrected, uncorrected: uncorrected, measured: true)
      reference[key, default: LatencyPair()].record(corrected: corrected, uncorrected: uncorrected)
    }
    let perWorker = recorder.totalsPerWorker()
    #expect(perWorker.count == 3)
    #expect(perWorker.allSatisfy { !$0.isEmpty })
    let merged = LoadRecorder.merge(perWorker)
    #expect(merged == reference)
    // The same through the encoded form another process would send.
    let shipped = try perWorker.map { part in
      try part.mapValues { pair in
        LatencyPair(
          corrected: try HistogramCoding.decode(HistogramCoding.encodeCompressed(pair.corrected)),
          uncorrected: try HistogramCoding.decode(HistogramCoding.encodeCompressed(pair.uncorrected)))
      }
    }
    #expect(LoadRecorder.merge(shipped) == reference)
    for key in keys {
      let m = try #require(merged[key]), r = try #require(reference[key])
      #expect(m.corrected.valueAtPercentile(99.9) == r.corrected.valueAtPercentile(99.9))
      #expect(m.count == r.count)
    }
  }

  /// A shard remembers its last few keys' entries; new keys arriving between them (and growing
  /// the shard's table) must not send a sample to another key's entry.
  @Test func samplesLandUnderTheirKeysWhileNewKeysArrive() {
    let recorder = LoadRecorder(shards: 1)
    var reference: [OperationKey: LatencyPair] = [:]
    let hot = [OperationKey(operation: "echo", status: "OK"), OperationKey(operation: "echo.echo", status: "OK")]
    for i in 0..<2_000 {
      // The two hot keys alternate, as a journey of one call records them, and every tenth
      // sample brings a key never seen before.
      let key = i % 10 == 9 ? OperationKey(operation: "echo", status: "STATUS_\(i)") : hot[i % 2]
      let latency = UInt64(1_000 + i * 997 % 5_000_000)
      recorder.record(worker: 0, key: key, corrected: latency, uncorrected: latency, measured: true)
      reference[key, default: LatencyPair()].record(corrected: latency, uncorrected: latency)
    }
    #expect(recorder.totals() == reference)
  }

  @Test func intervalsHoldEachSampleOnceAndTotalsOnlyTheMeasured() {
    let recorder = LoadRecorder(shards: 2)
    let key = OperationKey(operation: "echo", status: "OK")
    recorder.record(worker: 0, key: key, corrected: 1_000_000, uncorrected: 1_000_000, measured: false)
    recorder.record(worker: 1, key: key, corrected: 2_000_000, uncorrected: 2_000_000, measured: true)
    let interval = recorder.takeInterval()
    #expect(interval.all[key]?.totalCount == 2)
    #expect(interval.measured[key]?.totalCount == 1)
    let next = recorder.takeInterval()
    #expect(next.all.isEmpty && next.measured.isEmpty)
    #expect(recorder.totals()[key]?.count == 1)
  }
}
