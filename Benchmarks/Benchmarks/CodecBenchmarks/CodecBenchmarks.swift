// Encode and decode of three representative messages, with our protobuf-c bindings (`Messages`)
// and with swift-protobuf's generated code for the same .proto files (`SwiftProtobufPeer`).
//
// Run: cd Benchmarks && swift package --allow-writing-to-directory .benchmarkBaselines \
//        benchmark --target CodecBenchmarks
// Results and how to read them: docs/PERFORMANCE.md.
import Benchmark
import BenchmarkFixtures

let benchmarks: @Sendable () -> Void = {
  // Each sample runs the operation 1,000 times (`scalingFactor: .kilo`), so that clock reads do
  // not dominate operations of a few hundred nanoseconds; results are reported per operation
  // (marked `*`). Time limits keep the whole target near a minute of measurement on 2 cores.
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
    timeUnits: .nanoseconds,
    warmupIterations: 3,
    scalingFactor: .kilo,
    maxDuration: .seconds(2),
    maxIterations: 1_000,
    // Allocation counts are exact, so any growth is a regression; times on a shared machine
    // are not stable enough to gate on (see docs/PERFORMANCE.md).
    thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])]
  )

  // Building the fixtures also checks them: each side decodes the other's encoding to an equal
  // value, and the echo request is exactly 40 bytes. A mismatch stops the run here.
  registerCodecBenchmarks(CodecFixtures.checkoutRequest)
  registerCodecBenchmarks(CodecFixtures.searchProductsResponse)
  registerCodecBenchmarks(CodecFixtures.echoRequest)
}
