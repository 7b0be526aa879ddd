import ArgumentParser

/// `echo-bench zstd-streaming`: ``ZstdStreamingComparison``, printed as a Markdown table.
struct ZstdStreamingCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zstd-streaming", abstract: "zstd: one flushed stream vs a frame per message, on real messages.")

  @Option(help: "The compression level (the protocol's default is 1; negative levels trade ratio for speed).")
  var level: Int32 = ZstdStreamingComparison.level

  func run() throws {
    print(Report.zstdTable(try ZstdStreamingComparison.run(level: level)))
  }
}
