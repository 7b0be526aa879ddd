import ArgumentParser
import Foundation

/// `echo-bench client`: a closed loop of `--concurrency` calls in flight on one connection.
/// Prints `WINDOW_START` and `WINDOW_END` around the measured window, then one JSON line
/// (``ClientReport``).
struct ClientCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "client", abstract: "Runs one closed-loop echo client and prints a JSON line.")

  @Option(help: "emporium, grpc or nio.") var impl: Implementation
  @Option(help: "The server's port on 127.0.0.1.") var port: Int
  @Option(help: "Calls in flight on the one connection.") var concurrency: Int = 1
  @Option(help: "Request payload size in bytes.") var payload: Int = 100
  @Option(help: "Measured seconds (after the warm-up).") var seconds: Double = 5
  @Option(help: "Warm-up seconds.") var warmUp: Double = 2
  @Option(help: "unary or bidi.") var mode: CallMode = .unary
  @Option(help: "Compression offered (emporium only).") var compression: CompressionChoice = .none
  @Flag(help: "Emporium only: run the calling tasks on the connection's event loop.") var onLoop = false

  func validate() throws {
    guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    guard payload >= 0 else { throw ValidationError("--payload must not be negative") }
    if impl != .emporium && (onLoop || compression != .none) {
      throw ValidationError("--on-loop and --compression apply to emporium only")
    }
  }

  func run() async throws {
    let options = ClientOptions(
      implementation: impl, port: port, concurrency: concurrency, payload: payload, seconds: seconds,
      warmUpSeconds: warmUp, mode: mode, compression: compression, onLoop: onLoop)
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
