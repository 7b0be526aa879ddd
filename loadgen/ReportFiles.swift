import Foundation
import LoadCore

/// Reading and writing report files, for `run`, `merge` and `report` alike.
enum ReportFiles {
  /// Reads the JSON report at `path`; the error names the file and what is wrong with it.
  static func read(_ path: String) throws -> LoadReport {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw CommandFailure("\(path): cannot read it (\(error.localizedDescription))")
    }
    do {
      return try LoadReport.decode(data)
    } catch {
      throw CommandFailure("\(path): \(error)")
    }
  }

  /// Writes the report as JSON, HTML and CSV, each where a path is given.
  static func write(_ report: LoadReport, json: String?, html: String?, csv: String?) throws {
    if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
    if let html { try Data(HTMLReport.render(report: report).utf8).write(to: URL(fileURLWithPath: html)) }
    if let csv { try Data(report.csv().utf8).write(to: URL(fileURLWithPath: csv)) }
  }
}

/// A command that cannot do what it was asked, with the reason (printed as "Error: ...").
struct CommandFailure: Error, CustomStringConvertible {
  var description: String

  init(_ description: String) { self.description = description }
}
