import ArgumentParser
import RPC

/// Options every command takes: where the server is and how to connect.
struct ConnectionOptions: ParsableArguments {
  /// The environment variable that names the server when `--addr` is not given.
  static let addressVariable = "EMPORIUM_ADDR"

  @Option(
    name: .customLong("addr"),
    help: ArgumentHelp(
      "The server, HOST:PORT (default: $EMPORIUM_ADDR, else \(HostPort.default)).", valueName: "host:port"))
  var address: HostPort?

  @Option(help: ArgumentHelp("How long connecting and the handshake may take (5s, 500ms...).", valueName: "duration"))
  var connectTimeout = TimeSpan(.seconds(10), text: "10s")

  @Option(help: ArgumentHelp("The compression to offer the server: zstd or none.", valueName: "zstd|none"))
  var compression: CompressionChoice = .zstd

  @Flag(name: .shortAndLong, help: "Print headers, trailers, timings and byte counts to standard error.")
  var verbose = false

  /// `--addr`, else the environment variable, else the default.
  func resolvedAddress(environment: [String: String]) throws(CommandFailure) -> HostPort {
    if let address { return address }
    if let text = environment[Self.addressVariable], !text.isEmpty {
      guard let address = HostPort(argument: text) else {
        throw .usage("\(Self.addressVariable)='\(text)' is not HOST:PORT")
      }
      return address
    }
    return .default
  }
}
