import RPC

/// The parameters of one client run (the `client` subcommand's options).
struct ClientOptions: Sendable {
  var implementation: Implementation
  var port: Int
  var concurrency: Int
  var payload: Int
  var seconds: Double
  var warmUpSeconds: Double
  var mode: CallMode
  var compression: CompressionChoice
  var onLoop: Bool
  /// Emporium only: call through an `RPCClientPool` over `ports` instead of one connection to
  /// `port`.
  var pool = false
  var ports: [Int] = []
  var maxConnectionsPerEndpoint = 4
  /// Emporium only: the `authorization` entry every call carries ("Bearer <token>").
  var authorization: String?

  /// What every Emporium call carries.
  var callOptions: CallOptions {
    CallOptions(metadata: authorization.map { ["authorization": $0] } ?? [:])
  }

  /// The unary calls' load: LoadCore's engine, closed model.
  var unaryLoad: UnaryLoad { UnaryLoad(concurrency: concurrency, warmUpSeconds: warmUpSeconds, seconds: seconds) }
  /// The bidirectional streams' and the bare NIO frames' driver.
  var streamLoad: StreamLoad { StreamLoad(concurrency: concurrency, warmUpSeconds: warmUpSeconds, seconds: seconds) }
}
