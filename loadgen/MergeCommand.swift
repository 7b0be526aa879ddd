import ArgumentParser
import Foundation
import LoadCore

/// `loadgen merge`: one report of several loadgen processes or machines, exact through the
/// histograms each report carries.
struct MergeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "merge",
    abstract: "Merge the JSON reports of several loadgen processes or machines into one, exactly.",
    discussion: """
      Adds each operation and status's HdrHistograms (corrected and uncorrected), sums counts, \
      rates and users, and lines the time series up by wall-clock second. Reports of runs with \
      --shard I/N should bring each shard once: a missing or repeated shard is warned about. \
      Reports of different scenarios or load models are refused. See docs/LOADGEN.md.
      """)

  @Argument(help: "The reports to merge (loadgen run --json FILE).") var reports: [String]
  @Option(help: "Write the merged report as JSON.") var json: String?
  @Option(help: "Write the merged report as one self-contained HTML page.") var html: String?
  @Option(help: "Write the merged per-operation summary as CSV.") var csv: String?

  func validate() throws {
    guard !reports.isEmpty else { throw ValidationError("give the JSON reports to merge") }
  }

  func run() async throws {
    let loaded = try reports.map(ReportFiles.read)
    let merged: LoadReport.Merged
    do {
      merged = try LoadReport.merge(loaded, options: ["command": "merge " + reports.joined(separator: " ")])
    } catch {
      throw CommandFailure("cannot merge: \(error)")
    }
    for warning in merged.warnings { RunCommand.printError("loadgen: warning: " + warning) }
    print(merged.report.text(), terminator: "")
    try ReportFiles.write(merged.report, json: json, html: html, csv: csv)
  }
}
