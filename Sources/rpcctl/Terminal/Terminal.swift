import Foundation

/// Where a command reads its input and writes its results: the process's standard streams
/// when run as `rpcctl`, buffers in tests.
struct Terminal: Sendable {
  /// Standard input as lines (without their newline), read only when a command asks for it.
  /// Iteration ends at end of input; cancelling the iterating task ends it too.
  var inputLines: @Sendable () -> InputLines
  /// Standard output: results (JSON lines, listings).
  var output: any TextOutput
  /// Standard error: the failure summary and verbose diagnostics.
  var errors: any TextOutput
  /// Environment variables (for `EMPORIUM_ADDR`).
  var environment: [String: String]
  /// Whether standard input is a terminal (a person typing), not a pipe or a file.
  var inputIsInteractive = false

  /// The process's standard streams and environment.
  static var standard: Terminal {
    Terminal(
      inputLines: { StandardInput.lines() }, output: FileOutput(.standardOutput), errors: FileOutput(.standardError),
      environment: ProcessInfo.processInfo.environment, inputIsInteractive: isatty(STDIN_FILENO) == 1)
  }
}
