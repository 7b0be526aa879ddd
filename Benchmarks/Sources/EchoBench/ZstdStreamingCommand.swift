import ArgumentParser

/// `echo-bench zstd-streaming`: ``ZstdStreamingComparison``, printed as a Markdown table.
struct ZstdStreamingCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zstd-streaming", abstract: "zstd: one flushed stream vs a frame per message, on real messages.")

  func run() throws {
    print(Report.zstdTable(try ZstdStreamingComparison.run()))
  }
}
