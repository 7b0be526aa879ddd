import Messages
import RPC

/// What ends a command unsuccessfully: its exit status and the one-line summary printed to
/// standard error after `rpcctl: `.
///
/// Exit statuses: a call's status code (1-16) for call failures and for local problems that
/// match one (bad JSON input is INVALID_ARGUMENT, 3; an unreachable server is UNAVAILABLE, 14);
/// 64 (EX_USAGE) for command-line mistakes.
struct CommandFailure: Error, Hashable, Sendable, CustomStringConvertible {
  /// EX_USAGE from sysexits.h.
  static let usageExitCode: Int32 = 64

  var exitCode: Int32
  var summary: String
  /// Further lines shown with `-v` (error details).
  var detailLines: [String] = []

  init(exitCode: Int32, summary: String, detailLines: [String] = []) {
    self.exitCode = exitCode
    self.summary = summary
    self.detailLines = detailLines
  }

  /// A failure with a status code: `CODE: message`.
  init(_ code: RPCStatusCode, _ message: String) {
    self.init(exitCode: Int32(code.rawValue), summary: message.isEmpty ? code.name : "\(code.name): \(message)")
  }

  /// A call that ended with `error`: its code, message and a summary of its details.
  init(_ error: RPCError) {
    let details = error.details.map(ErrorDetailsSummary.lines(of:)) ?? []
    var summary = error.message.isEmpty ? error.code.name : "\(error.code.name): \(error.message)"
    if let first = details.first { summary += " (\(first)\(details.count > 1 ? "; +\(details.count - 1) more" : ""))" }
    self.init(exitCode: Int32(error.code.rawValue), summary: summary, detailLines: details)
  }

  /// A command-line mistake (exit status 64).
  static func usage(_ message: String) -> CommandFailure {
    CommandFailure(exitCode: usageExitCode, summary: message)
  }

  /// Invalid input (JSON, a data file): INVALID_ARGUMENT.
  static func invalidInput(_ message: String) -> CommandFailure {
    CommandFailure(.invalidArgument, message)
  }

  var description: String { summary }
}
