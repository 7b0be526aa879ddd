import ArgumentParser
import Foundation

/// `echo-bench report`: the tables of one or more `run` JSON files together (medians over all
/// their rounds), for runs repeated on a noisy machine.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report", abstract: "Prints the tables of one or more `run --output` files, merged.")

  @Argument(help: "JSON files written by `run --output`.") var files: [String]

  func run() throws {
    let decoder = JSONDecoder()
    let runs = try files.map { try decoder.decode(Results.self, from: Data(contentsOf: URL(fileURLWithPath: $0))) }
    guard var merged = runs.first else { throw ValidationError("no files") }
    for run in runs.dropFirst() {
      let offset = merged.rounds
      merged.measurements += run.measurements.map { var m = $0; m.round += offset; return m }
      merged.idle += run.idle.map { var m = $0; m.round += offset; return m }
      merged.rounds += run.rounds
      merged.elapsedSeconds += run.elapsedSeconds
      merged.date += ", \(run.date)"
      if merged.zstd.isEmpty { merged.zstd = run.zstd }
    }
    print(Report.markdown(merged))
  }
}
