import ArgumentParser
import Foundation
import Testing

@testable import LoadCore
@testable import loadgen

/// `loadgen merge` and `loadgen report` on files, as a user runs them.
@Suite struct MergeCommandTests {
  static func report(scenario: String, shard: LoadShard?, samples: ClosedRange<UInt64>) -> LoadReport {
    var pair = LatencyPair()
    for micros in samples { pair.record(corrected: micros * 1_000, uncorrected: micros * 1_000) }
    let key = OperationKey(operation: scenario, status: "OK")
    let result = LoadResult(
      model: .closed(users: 2, thinkTime: nil), warmup: .zero, duration: .seconds(1), elapsedSeconds: 1,
      operations: [key: pair], workers: [[key: pair]], intervals: [], dispatch: DispatchCounts(offered: 5, sent: 5),
      windowCPUSeconds: nil, measuredSeconds: 1, interrupted: false)
    var report = LoadReport(result: result, scenario: scenario, target: "127.0.0.1:7700", startTime: Date())
    report.run.shard = shard
    return report
  }

  static func write(_ report: LoadReport, in directory: URL, _ name: String) throws -> String {
    let url = directory.appendingPathComponent(name)
    try report.json().write(to: url)
    return url.path
  }

  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("loadgen-merge-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test func mergesFilesIntoJSONHTMLAndCSV() async throws {
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let paths = try [1...100, 101...250, 251...300].enumerated().map { index, samples in
      try Self.write(
        Self.report(scenario: "echo", shard: LoadShard(index: index + 1, count: 3), samples: samples), in: directory,
        "shard\(index + 1).json")
    }
    let out = directory.appendingPathComponent("merged")
    var command = try MergeCommand.parse(
      paths + ["--json", out.path + ".json", "--html", out.path + ".html", "--csv", out.path + ".csv"])
    try await command.run()

    let merged = try ReportFiles.read(out.path + ".json")
    var all = LatencyHistogram.latency()
    for micros in UInt64(1)...300 { all.recordNanoseconds(micros * 1_000) }
    #expect(try HistogramCoding.decodeBase64(merged.histograms[0].corrected) == all)
    #expect(merged.operations[0].count == 300)
    #expect(merged.run.users == 6)
    #expect(merged.dispatch.sent == 15)
    let html = try String(contentsOfFile: out.path + ".html", encoding: .utf8)
    #expect(html.contains("merged from 3 reports (shards 1/3, 2/3, 3/3)"))
    let csv = try String(contentsOfFile: out.path + ".csv", encoding: .utf8)
    #expect(csv.split(separator: "\n").dropFirst().first?.hasPrefix("echo,300,") == true)

    // `loadgen report` draws the saved JSON again.
    command = try MergeCommand.parse([out.path + ".json"])
    let report = try ReportCommand.parse(["--json", out.path + ".json", "--html", out.path + "-again.html"])
    try await report.run()
    #expect(try String(contentsOfFile: out.path + "-again.html", encoding: .utf8) == html)
  }

  @Test func refusesUnreadableFilesAndDifferentScenarios() async throws {
    let directory = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let echo = try Self.write(Self.report(scenario: "echo", shard: nil, samples: 1...10), in: directory, "echo.json")
    let browse = try Self.write(
      Self.report(scenario: "browse", shard: nil, samples: 1...10), in: directory, "browse.json")
    let missing = directory.appendingPathComponent("missing.json").path
    let text = directory.appendingPathComponent("summary.csv")
    try Data("operation,count\n".utf8).write(to: text)
    let future = directory.appendingPathComponent("future.json")
    try Data(#"{"format": 9, "tool": "loadgen"}"#.utf8).write(to: future)

    func failure(_ arguments: [String]) async -> String {
      do {
        let command = try MergeCommand.parse(arguments)
        try await command.run()
        return "no error"
      } catch {
        return String(describing: error)
      }
    }
    #expect(await failure([echo, missing]).hasPrefix("\(missing): cannot read it"))
    #expect(await failure([echo, text.path]) == "\(text.path): not a JSON document")
    #expect(await failure([echo, future.path]).contains("report format 9; this loadgen reads formats 1 to 2"))
    #expect(await failure([echo, browse]).contains("different scenarios (echo, browse)"))
  }
}
