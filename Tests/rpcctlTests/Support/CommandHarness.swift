import Foundation
import Messages
import NIOCore
import RPC
import RPCTestSupport
import Testing

@testable import rpcctl

/// What one rpcctl command did.
struct CommandResult: Sendable {
  var status: Int32
  var output: String
  var errors: String

  /// Standard output's lines.
  var lines: [String] {
    output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
  }
}

/// Runs `rpcctl ARGUMENTS` in process, with standard input from `input`, and `--addr` for
/// `port` when given. Parsing errors are reported with the status rpcctl would exit with.
func rpcctl(
  _ arguments: [String], port: Int? = nil, input: InputLines = InputLines([]), environment: [String: String] = [:],
  output: BufferedOutput = BufferedOutput()
) async -> CommandResult {
  let errors = BufferedOutput()
  let command: any TerminalCommand
  do {
    command = try Rpcctl.command(from: arguments + (port.map { ["--addr", "127.0.0.1:\($0)"] } ?? []))
  } catch {
    return CommandResult(status: error.exitCode, output: "", errors: error.summary)
  }
  let terminal = Terminal(inputLines: { input }, output: output, errors: errors, environment: environment)
  let status = await CommandRunner.run(command, on: terminal)
  return CommandResult(status: status, output: output.text, errors: errors.text)
}

/// A server with the echo and AllTypes services on a free loopback port for `body`.
func withServer<Result>(
  extraServices: [any RPCService] = [], _ body: (RPCServer, Int) async throws -> Result
) async throws -> Result {
  try await RPCTestSupport.withServer(
    services: [EchoService(), AllTypesService()] + extraServices, configure: { $0.drainTimeout = .seconds(2) }, body)
}

/// A loopback port nothing listens on (bound, then released).
func closedPort() async throws -> Int {
  var configuration = RPCServer.Configuration()
  configuration.port = 0
  let server = RPCServer(services: [], configuration: configuration)
  let serving = Task { try await server.serve() }
  let port = try await server.localAddress().port!
  server.beginGracefulShutdown()
  try await serving.value
  return port
}
