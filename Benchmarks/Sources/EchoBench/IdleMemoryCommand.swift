import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench idle-memory`: memory per idle Emporium connection without compression and with
/// zstd at several window logs, both right after the handshake and after calls.
///
/// Each measurement is `run`'s idle measurement (a fresh `server`, an `idle` client process that
/// opens `--connections` connections after a warm-up one; growth of VmRSS and of live heap bytes
/// per connection on both sides), with `--zstd-window-log` given to both the server and the
/// client (each compresses with at most that window and accepts at most that window), and
/// `--calls-per-connection` echo calls (100 B of text) on every connection before it idles: 0 is
/// a connection that never carried a call, 1 or more one that did (the zstd contexts then hold
/// their windows). Then ``ZstdContextSizes``: libzstd's own accounting per context, and the
/// compression ratio each window log gives on real messages.
struct IdleMemoryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "idle-memory",
    abstract: "Memory per idle Emporium connection: none vs zstd at several window logs, with and without calls.")

  @Option(help: "Idle connections per measurement.") var connections = 200
  @Option(help: "Rounds (every configuration once per round); tables show medians.") var rounds = 2
  @Option(help: "Comma-separated zstd window logs to compare with none.") var windowLogs = "17,12,10"
  @Option(help: "Comma-separated calls per connection before it idles.") var callsPerConnection = "0,1"
  @Option(help: "First port to use (one per measurement, counting up).") var basePort = 24_300
  @Option(help: "libEchoBenchMallocCounter.so (default: next to this executable).") var mallocCounter: String?
  @Option(help: "Where to write all measurements as JSON.") var output = "/tmp/echo-bench-idle-memory.json"

  struct Summary: Codable {
    var command: String
    var date: String
    var machine: Machine
    var idle: [IdleMeasurement]
    var contexts: [ZstdContextSizes.Row]
    var messageSets: [String]
  }

  private var logs: [Int] { windowLogs.split(separator: ",").compactMap { Int($0) } }
  private var calls: [Int] { callsPerConnection.split(separator: ",").compactMap { Int($0) } }

  func validate() throws {
    guard logs.allSatisfy({ (10...31).contains($0) }) else { throw ValidationError("--window-logs: 10...31 each") }
    guard !calls.isEmpty, calls.allSatisfy({ $0 >= 0 }) else { throw ValidationError("--calls-per-connection: e.g. 0,1") }
  }

  func run() throws {
    let executable = try RunCommand.ownExecutable()
    let counter = mallocCounter ?? (executable as NSString).deletingLastPathComponent + "/libEchoBenchMallocCounter.so"
    guard FileManager.default.fileExists(atPath: counter) else {
      throw ValidationError("the allocation counter is needed for heap bytes: build EchoBenchMallocCounter (\(counter))")
    }
    let scratch = NSTemporaryDirectory() + "echo-bench-idle-\(getpid())"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    var orchestrator = Orchestrator(
      executable: executable, preload: counter, scratch: scratch, nextPort: basePort, seconds: 0, warmUp: 0)
    try orchestrator.checkMallocCounter()
    let command = CommandLine.arguments.joined(separator: " ")
    let date = ISO8601DateFormatter().string(from: Date())

    let configurations: [(CompressionChoice, Int?)] = [(.none, nil)] + logs.map { (.zstd, $0) }
    var idle: [IdleMeasurement] = []
    for round in 0..<rounds {
      for callCount in calls {
        for (compression, windowLog) in configurations {
          let measurement = try orchestrator.measureIdle(
            Variant(implementation: .emporium, compression: compression), connections: connections, round: round,
            zstdWindowLog: windowLog, callsPerConnection: callCount)
          log(
            "idle \(Self.label(compression, windowLog)), \(callCount) call(s) per connection, round \(round + 1): "
              + "server \(Report.format(measurement.serverHeapKiBPerConnection ?? .nan)) / "
              + "\(Report.format(measurement.serverKiBPerConnection)) KiB, client "
              + "\(Report.format(measurement.clientHeapKiBPerConnection ?? .nan)) / "
              + "\(Report.format(measurement.clientKiBPerConnection)) KiB per connection (heap / RSS)")
          idle.append(measurement)
        }
      }
    }
    let contexts = try ZstdContextSizes.run(windowLogs: logs.map(Int32.init))
    let summary = Summary(
      command: command, date: date, machine: Machine.current(), idle: idle, contexts: contexts,
      messageSets: try ZstdContextSizes.names())
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(summary).write(to: URL(fileURLWithPath: output))
    print(Self.markdown(summary))
    log("measurements written to \(output)")
  }

  static func label(_ compression: CompressionChoice, _ windowLog: Int?) -> String {
    compression == .none ? "none" : "zstd, window log \(windowLog.map(String.init) ?? "17")"
  }

  static func markdown(_ summary: Summary) -> String {
    var out: [String] = []
    out.append("Command: `\(summary.command)`")
    out.append("")
    out.append(
      "\(summary.machine.line) \(summary.date).")
    out.append("")
    out.append(
      "| compression | calls per connection before idling | runs | server: heap KiB / VmRSS KiB per idle connection | client: heap KiB / VmRSS KiB per idle connection | connections |"
    )
    out.append("|---|---:|---:|---:|---:|---:|")
    var keys: [(CompressionChoice, Int?, Int)] = []
    for measurement in summary.idle {
      let key = (measurement.variant.compression, measurement.zstdWindowLog, measurement.callsPerConnection ?? 0)
      if !keys.contains(where: { $0 == key }) { keys.append(key) }
    }
    keys.sort { ($0.2, $0.0 == .none ? 0 : 1, -($0.1 ?? 17)) < ($1.2, $1.0 == .none ? 0 : 1, -($1.1 ?? 17)) }
    for (compression, windowLog, calls) in keys {
      let group = summary.idle.filter {
        $0.variant.compression == compression && $0.zstdWindowLog == windowLog && ($0.callsPerConnection ?? 0) == calls
      }
      func heap(_ values: [Double]) -> String { values.isEmpty ? "–" : Report.format(Report.median(values)) }
      out.append(
        "| \(label(compression, windowLog)) | \(calls) | \(group.count) | "
          + "\(heap(group.compactMap(\.serverHeapKiBPerConnection))) / "
          + "\(Report.format(Report.median(group.map(\.serverKiBPerConnection)))) | "
          + "\(heap(group.compactMap(\.clientHeapKiBPerConnection))) / "
          + "\(Report.format(Report.median(group.map(\.clientKiBPerConnection)))) | \(group[0].connections) |")
    }
    guard !summary.contexts.isEmpty else { return out.joined(separator: "\n") }
    out.append("")
    out.append(
      "zstd contexts (`ZSTD_sizeof_CCtx` / `ZSTD_sizeof_DCtx`, KiB; each side of a connection has one of each) and the "
        + "streaming compression ratio (flush per message, level 1) of 1,000 messages of each kind:")
    out.append("")
    out.append(
      "| window log | compressor: new / after the first message | decompressor: new / after the first message | one side in use | "
        + summary.messageSets.joined(separator: " | ") + " |")
    out.append("|---:|---:|---:|---:|" + String(repeating: "---:|", count: summary.messageSets.count))
    func kib(_ bytes: Int) -> String { Report.format(Double(bytes) / 1_024) }
    for row in summary.contexts {
      out.append(
        "| \(row.windowLog) | \(kib(row.compressorFresh)) / \(kib(row.compressorInUse)) | "
          + "\(kib(row.decompressorFresh)) / \(kib(row.decompressorInUse)) | "
          + "\(kib(row.compressorInUse + row.decompressorInUse)) | "
          + row.ratios.map { String(format: "%.1f×", $0) }.joined(separator: " | ") + " |")
    }
    return out.joined(separator: "\n")
  }
}
