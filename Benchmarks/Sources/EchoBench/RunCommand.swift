import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench run`: the whole benchmark.
///
/// For every scenario, `--rounds` rounds; in every round each variant once, in a fixed
/// alternating order (Emporium variants, grpc-swift-2, bare NIO, then again), each run a fresh
/// server process and a fresh client process. The server's CPU time and allocations are sampled
/// when the client prints WINDOW_START and WINDOW_END (the client prints each right after taking
/// its own snapshot; the orchestrator reads /proc/PID/stat and signals SIGUSR2 for the
/// allocation count within a few milliseconds of that, against a 5 s window). Both processes run
/// with libEchoBenchMallocCounter.so preloaded. Then memory per idle connection, then the zstd
/// comparison in-process. Prints Markdown tables; writes every measurement as JSON to `--output`.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Runs the whole benchmark and prints the tables.")

  @Option(help: "Measured seconds per run.") var seconds: Double = 5
  @Option(help: "Warm-up seconds per run.") var warmUp: Double = 2
  @Option(help: "Rounds (each variant once per round, alternating); tables show medians.") var rounds: Int = 2
  @Flag(help: "A smoke test: 1 s windows, one round, three scenarios, 20 idle connections.") var quick = false
  @Option(help: "Comma-separated scenarios (default: all), e.g. unary-100-64,bidi-100-1.") var scenarios: String?
  @Option(help: "Comma-separated variants (default: all but emporium-none-auth): \(Variant.selectable.map(\.id).joined(separator: ","))")
  var variants: String?
  @Option(help: "Idle connections for memory per connection (0 skips).") var idleConnections: Int = 200
  @Flag(help: "Skip the zstd streaming comparison.") var skipZstd = false
  @Option(help: "First port to use (one per run, counting up; below Linux's ephemeral range).") var basePort: Int = 23_100
  @Option(help: "libEchoBenchMallocCounter.so (default: next to this executable).") var mallocCounter: String?
  @Flag(help: "Run without the allocation counter (to see what counting costs).") var noMallocCounter = false
  @Option(help: "Where to write all measurements as JSON.") var output = "/tmp/echo-bench-results.json"

  func run() throws {
    let executable = try Self.ownExecutable()
    let counter = mallocCounter ?? (executable as NSString).deletingLastPathComponent + "/libEchoBenchMallocCounter.so"
    let preload = !noMallocCounter && FileManager.default.fileExists(atPath: counter) ? counter : nil
    let scratch = NSTemporaryDirectory() + "echo-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    var orchestrator = Orchestrator(
      executable: executable, preload: preload, scratch: scratch, nextPort: basePort,
      seconds: quick ? 1 : seconds, warmUp: quick ? 0.5 : warmUp)

    if let preload {
      try orchestrator.checkMallocCounter()
      log("allocation counter: \(preload)")
    } else if noMallocCounter {
      log("running without the allocation counter")
    } else {
      log("allocation counter not found at \(counter): build the EchoBenchMallocCounter product; mallocs not reported")
    }

    let selectedScenarios = try scenarios.map { list in
      try list.split(separator: ",").map { id in
        guard let scenario = Scenario(id: String(id)) else { throw ValidationError("unknown scenario \(id)") }
        return scenario
      }
    } ?? (quick ? Scenario.quick : Scenario.all)
    let selectedVariants = try variants.map { list in
      try list.split(separator: ",").map { id in
        guard let variant = Variant.selectable.first(where: { $0.id == id }) else { throw ValidationError("unknown variant \(id)") }
        return variant
      }
    } ?? Variant.all
    let roundCount = quick ? 1 : rounds
    if selectedVariants.contains(where: \.authenticates) { try orchestrator.makeAuthKeys() }

    let started = Date()
    var measurements: [Measurement] = []
    for scenario in selectedScenarios {
      for round in 0..<roundCount {
        for variant in selectedVariants {
          let measurement = try orchestrator.measure(scenario, variant, round: round)
          log(
            "\(scenario.id) \(variant.id) round \(round + 1): \(Int(measurement.client.callsPerSecond)) calls/s, "
              + "p50 \(measurement.client.p50Micros) µs, p99 \(measurement.client.p99Micros) µs, "
              + "\(String(format: "%.1f", measurement.cpuMicrosPerCall)) CPU µs/call")
          measurements.append(measurement)
        }
      }
    }

    var idle: [IdleMeasurement] = []
    let connections = quick ? 20 : idleConnections
    if connections > 0 {
      for round in 0..<roundCount {
        for variant in Variant.idle where selectedVariants.contains(where: { $0.implementation == variant.implementation }) {
          let measurement = try orchestrator.measureIdle(variant, connections: connections, round: round)
          log("idle \(variant.id) round \(round + 1): server \(String(format: "%.1f", measurement.serverKiBPerConnection)) KiB/connection")
          idle.append(measurement)
        }
      }
    }

    let zstd = skipZstd ? [] : try ZstdStreamingComparison.run()
    let elapsed = Date().timeIntervalSince(started)

    let results = Results(
      date: ISO8601DateFormatter().string(from: started), machine: Machine.current(), seconds: orchestrator.seconds,
      warmUp: orchestrator.warmUp, rounds: roundCount, elapsedSeconds: elapsed, measurements: measurements, idle: idle,
      zstd: zstd)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(results).write(to: URL(fileURLWithPath: output))
    print(Report.markdown(results))
    log("measurements written to \(output); took \(Int(elapsed)) s")
  }

  static func ownExecutable() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { throw ValidationError("cannot read /proc/self/exe") }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
