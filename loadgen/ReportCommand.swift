import ArgumentParser
import Foundation
import LoadCore

/// `loadgen report`: a saved JSON report again, as the text summary, an HTML page or CSV.
struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Render a saved JSON report (loadgen run or merge --json) as text, HTML or CSV.")

  @Option(help: "The JSON report to read.") var json: String
  @Option(help: "Write it as one self-contained HTML page.") var html: String?
  @Option(help: "Write its per-operation summary as CSV.") var csv: String?

  func run() async throws {
    let report = try ReportFiles.read(json)
    print(report.text(), terminator: "")
    try ReportFiles.write(report, json: nil, html: html, csv: csv)
  }
}
