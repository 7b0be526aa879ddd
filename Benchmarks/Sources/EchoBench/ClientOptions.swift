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

  var loop: ClosedLoop { ClosedLoop(concurrency: concurrency, warmUpSeconds: warmUpSeconds, seconds: seconds) }
}
