import Foundation

/// The Markdown tables of a `run` (medians over rounds).
enum Report {
  static func markdown(_ results: Results) -> String {
    var out: [String] = []
    out.append(
      "\(results.machine.line) "
        + "\(results.date). \(results.rounds) round(s), \(format(results.warmUp)) s warm-up + "
        + "\(format(results.seconds)) s measured per run; took \(Int(results.elapsedSeconds / 60)) min.")
    out.append("")
    out.append(callsTable(results.measurements, rounds: results.rounds))
    out.append("")
    out.append(goalsTable(results.measurements))
    if !results.idle.isEmpty {
      out.append("")
      out.append(idleTable(results.idle))
    }
    if !results.zstd.isEmpty {
      out.append("")
      out.append(zstdTable(results.zstd))
    }
    return out.joined(separator: "\n")
  }

  // MARK: Tables

  static func callsTable(_ measurements: [Measurement], rounds: Int) -> String {
    var lines = [
      "| configuration | implementation | runs | calls/s | range over runs | p50 µs | p99 µs | p99.9 µs | CPU µs/call (client + server) | mallocs/call (client / server) |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (scenario, variant, group) in grouped(measurements) {
      let rates = group.map(\.client.callsPerSecond)
      let clientCPU = median(group.map(\.clientCPUMicrosPerCall))
      let serverCPU = median(group.map(\.serverCPUMicrosPerCall))
      let clientMallocs = group.compactMap(\.clientMallocsPerCall)
      let serverMallocs = group.compactMap(\.serverMallocsPerCall)
      let mallocs =
        clientMallocs.isEmpty || serverMallocs.isEmpty
        ? "–" : "\(format(median(clientMallocs))) / \(format(median(serverMallocs)))"
      let errors = group.reduce(0) { $0 + $1.client.errors }
      lines.append(
        "| \(scenario.label) | \(variant.label)\(errors > 0 ? " (\(errors) errors)" : "") | \(group.count) | "
          + "\(grouping(median(rates))) | "
          + "\(grouping(rates.min()!))–\(grouping(rates.max()!)) | "
          + "\(grouping(median(group.map { Double($0.client.p50Micros) }))) | "
          + "\(grouping(median(group.map { Double($0.client.p99Micros) }))) | "
          + "\(grouping(median(group.map { Double($0.client.p999Micros) }))) | "
          + "\(format(median(group.map(\.cpuMicrosPerCall)))) (\(format(clientCPU)) + \(format(serverCPU))) | "
          + "\(mallocs) |")
    }
    return lines.joined(separator: "\n")
  }

  /// The issue's goals, checked against the medians.
  static func goalsTable(_ measurements: [Measurement]) -> String {
    var lines = ["| goal | variant | measured | met |", "|---|---|---:|:---:|"]
    func rows(_ scenario: Scenario) -> [(Variant, [Measurement])] {
      grouped(measurements).filter { $0.0 == scenario }.map { ($0.1, $0.2) }
    }
    func medianOf(_ group: [Measurement], _ value: (Measurement) -> Double) -> Double { median(group.map(value)) }
    for payload in [100, 4_096] {
      let at64 = rows(Scenario(mode: .unary, payload: payload, concurrency: 64))
      let size = payload == 100 ? "100 B" : "4 KiB"
      if let grpc = at64.first(where: { $0.0.implementation == .grpc }) {
        let grpcRate = medianOf(grpc.1) { $0.client.callsPerSecond }
        for (variant, group) in at64 where variant.implementation == .emporium {
          let ratio = medianOf(group) { $0.client.callsPerSecond } / grpcRate
          lines.append("| ≥ 10× grpc-swift-2 calls/s, unary \(size) × 64 | \(variant.label) | \(format(ratio))× | \(ratio >= 10 ? "yes" : "no") |")
        }
      }
      for (variant, group) in at64 where variant.implementation == .emporium {
        let p99 = medianOf(group) { Double($0.client.p99Micros) }
        lines.append("| p99 < 2 ms, unary \(size) × 64 | \(variant.label) | \(grouping(p99)) µs | \(p99 < 2_000 ? "yes" : "no") |")
      }
    }
    let at1 = rows(Scenario(mode: .unary, payload: 100, concurrency: 1))
    if let nio = at1.first(where: { $0.0.implementation == .nio }) {
      let floor = medianOf(nio.1) { Double($0.client.p50Micros) }
      for (variant, group) in at1 where variant.implementation == .emporium {
        let ratio = medianOf(group) { Double($0.client.p50Micros) } / floor
        lines.append("| p50 ≤ 2× bare NIO, unary 100 B × 1 | \(variant.label) | \(format(ratio))× | \(ratio <= 2 ? "yes" : "no") |")
      }
    }
    return lines.joined(separator: "\n")
  }

  static func idleTable(_ idle: [IdleMeasurement]) -> String {
    var lines = [
      "| implementation | server: heap KiB / VmRSS KiB per idle connection | client: heap KiB / VmRSS KiB per idle connection | connections |",
      "|---|---:|---:|---:|",
    ]
    var order: [Variant] = []
    for measurement in idle where !order.contains(measurement.variant) { order.append(measurement.variant) }
    for variant in order {
      let group = idle.filter { $0.variant == variant }
      let serverHeap = group.compactMap(\.serverHeapKiBPerConnection)
      let clientHeap = group.compactMap(\.clientHeapKiBPerConnection)
      lines.append(
        "| \(variant.label) | \(serverHeap.isEmpty ? "–" : format(median(serverHeap))) / "
          + "\(format(median(group.map(\.serverKiBPerConnection)))) | "
          + "\(clientHeap.isEmpty ? "–" : format(median(clientHeap))) / "
          + "\(format(median(group.map(\.clientKiBPerConnection)))) | \(group[0].connections) |")
    }
    return lines.joined(separator: "\n")
  }

  static func zstdTable(_ rows: [ZstdStreamingComparison.Row]) -> String {
    var lines = [
      "| messages (1,000 each) | plain bytes | streaming, flush per message | frame per message | compress µs/msg (stream / frame) | decompress µs/msg (stream / frame) |",
      "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows {
      func sized(_ bytes: Int) -> String {
        "\(grouping(Double(bytes))) (\(format(Double(row.plainBytes) / Double(bytes)))×)"
      }
      lines.append(
        "| \(row.name) | \(grouping(Double(row.plainBytes))) | \(sized(row.streamingBytes)) | \(sized(row.perMessageBytes)) | "
          + "\(format(row.streamingCompressMicros)) / \(format(row.perMessageCompressMicros)) | "
          + "\(format(row.streamingDecompressMicros)) / \(format(row.perMessageDecompressMicros)) |")
    }
    return lines.joined(separator: "\n")
  }

  // MARK: Helpers

  /// Measurements by scenario, then variant, in the order they were run.
  static func grouped(_ measurements: [Measurement]) -> [(Scenario, Variant, [Measurement])] {
    var keys: [Pair] = []
    for measurement in measurements {
      let key = Pair(scenario: measurement.scenario, variant: measurement.variant)
      if !keys.contains(key) { keys.append(key) }
    }
    return keys.map { key in
      (key.scenario, key.variant, measurements.filter { $0.scenario == key.scenario && $0.variant == key.variant })
    }
  }

  private struct Pair: Hashable {
    var scenario: Scenario
    var variant: Variant
  }

  static func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }

  /// One decimal below 10, none above (2.4, 17, 1,234).
  static func format(_ value: Double) -> String {
    guard value.isFinite else { return "–" }
    return value < 10 ? String(format: "%.1f", value) : grouping(value)
  }

  /// A whole number with thousands separators.
  static func grouping(_ value: Double) -> String {
    guard value.isFinite else { return "–" }
    let digits = String(Int(value.rounded()))
    var out = ""
    for (index, character) in digits.reversed().enumerated() {
      if index > 0 && index % 3 == 0 && character != "-" { out.append(",") }
      out.append(character)
    }
    return String(out.reversed())
  }
}
