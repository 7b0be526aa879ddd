import ArgumentParser
import CommerceKit
import Foundation
import NIOCore
import NIOPosix

/// `echo-bench client`: a closed loop of `--concurrency` calls in flight on one connection
/// (Emporium with `--pool`: through an `RPCClientPool` over the servers of `--ports`).
/// Prints `WINDOW_START` and `WINDOW_END` around the measured window, then one JSON line
/// (``ClientReport``).
struct ClientCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "client", abstract: "Runs one closed-loop echo client and prints a JSON line.")

  @Option(help: "emporium, grpc or nio.") var impl: Implementation
  @Option(help: "The server's port on 127.0.0.1 (with --pool, may be left out for --ports).") var port: Int?
  @Option(help: "Calls in flight on the one connection.") var concurrency: Int = 1
  @Option(help: "Request payload size in bytes.") var payload: Int = 100
  @Option(help: "Measured seconds (after the warm-up).") var seconds: Double = 5
  @Option(help: "Warm-up seconds.") var warmUp: Double = 2
  @Option(help: "unary or bidi.") var mode: CallMode = .unary
  @Option(help: "Compression offered (emporium only).") var compression: CompressionChoice = .none
  @Flag(help: "Emporium only: run the calling tasks on the connection's event loop.") var onLoop = false
  @Flag(help: "Emporium only: make NIO's event loops Swift's global executor for the whole client process.")
  var nioExecutor = false
  @Flag(help: "Emporium only: call through an RPCClientPool (over --ports, or --port) instead of one RPCConnection.")
  var pool = false
  @Option(help: "With --pool: comma-separated ports of the servers on 127.0.0.1, e.g. 24100,24101.") var ports: String?
  @Option(help: "With --pool: the most connections the pool opens to one server.") var maxConnectionsPerEndpoint = 4
  @Option(
    help: "Emporium only: issue a user's access token with the keys in this directory and send it on every call (authorization: Bearer)."
  )
  var authKeys: String?

  private var portList: [Int] { (ports ?? "").split(separator: ",").compactMap { Int($0) } }

  func validate() throws {
    guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    guard payload >= 0 else { throw ValidationError("--payload must not be negative") }
    if impl != .emporium && (onLoop || nioExecutor || compression != .none || pool || authKeys != nil) {
      throw ValidationError("--on-loop, --nio-executor, --compression, --pool and --auth-keys apply to emporium only")
    }
    if onLoop && nioExecutor { throw ValidationError("--on-loop and --nio-executor are alternatives") }
    if pool && onLoop { throw ValidationError("--on-loop needs one connection: a pool has one event loop per connection") }
    if ports != nil && !pool { throw ValidationError("--ports needs --pool") }
    if ports != nil && portList.count != (ports ?? "").split(separator: ",").count {
      throw ValidationError("--ports must be comma-separated port numbers")
    }
    guard port != nil || !portList.isEmpty else { throw ValidationError("give --port (or --pool --ports)") }
    guard maxConnectionsPerEndpoint >= 1 else { throw ValidationError("--max-connections-per-endpoint must be positive") }
  }

  func run() async throws {
    if nioExecutor {
      guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
        throw ValidationError("could not install NIO's event loops as the global executor")
      }
    }
    var options = ClientOptions(
      implementation: impl, port: port ?? portList[0], concurrency: concurrency, payload: payload, seconds: seconds,
      warmUpSeconds: warmUp, mode: mode, compression: compression, onLoop: onLoop)
    options.pool = pool
    options.ports = portList.isEmpty ? [options.port] : portList
    options.maxConnectionsPerEndpoint = maxConnectionsPerEndpoint
    if let authKeys {
      let tokens = await AccessTokens(keys: try AccessTokenKeySet.load(directory: authKeys).keys)
      let (token, _) = try await tokens.issue(for: AuthBench.user, lifetime: .seconds(3_600))
      options.authorization = "Bearer " + token
    }
    let report: ClientReport
    switch impl {
    case .emporium: report = try await EmporiumEchoClient.run(options)
    case .grpc: report = try await GRPCEchoClient.run(options)
    case .nio: report = try await NIOEchoClient.run(options)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    emitLine(String(decoding: try encoder.encode(report), as: UTF8.self))
  }
}
