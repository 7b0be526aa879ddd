import ArgumentParser
import Foundation
import Messages
import RPC

/// `emporium health`: one health check against a running server; exit status 0 when serving.
struct Health: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Check a running server's health.")

  @Option(help: "The server's address (default: $EMPORIUM_ADDR, else 127.0.0.1:7700).")
  var addr: HostPort?

  @Argument(help: "A service's full name; empty for the whole server.")
  var service = ""

  mutating func run() async throws {
    let address = addr ?? ProcessInfo.processInfo.environment["EMPORIUM_ADDR"].flatMap(HostPort.init(argument:))
      ?? HostPort(host: "127.0.0.1", port: 7700)
    let connection = try await RPCConnection.connect(host: address.host, port: address.port)
    defer { Task { await connection.close() } }
    let status = try await RpcV1.HealthService.Client(connection).check(
      .with { $0.service = service }, options: CallOptions(timeout: .seconds(5))
    ).status
    print(RpcV1.ServingStatus.protoValueNames[status.rawValue] ?? "\(status.rawValue)")
    if status != .serving { throw ExitCode(1) }
  }
}
