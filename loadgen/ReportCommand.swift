import ArgumentParser
import Foundation
import LoadCore

/// `loadgen report`: a saved JSON report again, as the text summary, an HTML page or CSV.
struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Render a saved JSON report (loadgen run or merge --json) as text, HTML or CSV.")

  @Option(help: "The JSON report to read (repeat it for several runs on one HTML page).") var json: [String]
  @Option(help: "Write it as one self-contained HTML page.") var html: String?
  @Option(help: "Write its per-operation summary as CSV (one report only).") var csv: String?
  @Option(help: "The page's title when it shows several runs.") var title = "loadgen runs"

  func validate() throws {
    guard !json.isEmpty else { throw ValidationError("give at least one --json REPORT") }
    if json.count > 1 && csv != nil { throw ValidationError("--csv writes one report's summary: give one --json") }
  }

  func run() async throws {
    let reports = try json.map { try ReportFiles.read($0) }
    for report in reports { print(report.text(), terminator: "") }
    if reports.count == 1 {
      try ReportFiles.write(reports[0], json: nil, html: html, csv: csv)
    } else if let html {
      try Data(HTMLReport.render(reports: reports, title: title).utf8).write(to: URL(fileURLWithPath: html))
    }
  }
}
