import ArgumentParser
import RPC

/// A subcommand that works against a ``Terminal``: the process's standard streams when run,
/// or buffers when tests drive it. It returns its exit status or throws; ``CommandRunner``
/// turns what it throws into a status and a one-line summary.
protocol TerminalCommand: AsyncParsableCommand {
  /// The server and how to reach it.
  var connection: ConnectionOptions { get }

  func execute(on terminal: Terminal) async throws -> Int32
}

extension TerminalCommand {
  mutating func run() async throws {
    let status = await CommandRunner.run(self, on: .standard)
    if status != 0 { throw ExitCode(status) }
  }
}

/// Runs a ``TerminalCommand`` and reports its failure.
enum CommandRunner {
  /// The command's exit status; on failure, `rpcctl: <summary>` is written to the terminal's
  /// error stream (with each error detail on its own line under `-v`).
  static func run(_ command: some TerminalCommand, on terminal: Terminal) async -> Int32 {
    do {
      return try await command.execute(on: terminal)
    } catch {
      let failure = failure(for: error)
      var text = "rpcctl: \(failure.summary)\n"
      if command.connection.verbose {
        for line in failure.detailLines { text += "rpcctl:   \(line)\n" }
      }
      terminal.errors.write(text)
      return failure.exitCode
    }
  }

  /// The failure an error stands for.
  static func failure(for error: any Error) -> CommandFailure {
    switch error {
    case let failure as CommandFailure: failure
    case let error as RPCError: CommandFailure(error)
    case is CancellationError: CommandFailure(.cancelled, "cancelled")
    default: CommandFailure(.unknown, "\(error)")
    }
  }
}

extension Rpcctl {
  /// The subcommand a command line selects, parsed and validated.
  ///
  /// - Throws: ``CommandFailure`` with the status and message rpcctl exits with for this
  ///   command line (64 for mistakes; 0 for `--help`, whose text is the message).
  static func command(from arguments: [String]) throws(CommandFailure) -> any TerminalCommand {
    let parsed: any ParsableCommand
    do {
      parsed = try parseAsRoot(arguments)
    } catch {
      throw CommandFailure(exitCode: exitCode(for: error).rawValue, summary: message(for: error))
    }
    guard let command = parsed as? any TerminalCommand else {
      throw CommandFailure.usage("choose a subcommand: list, describe, call, health or ping")
    }
    return command
  }
}
