import ArgumentParser

/// Which echo server and client a process runs.
enum Implementation: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
  /// Emporium's `RPCServer` hosting `EchoService`, and `RPCConnection` with the typed client.
  case emporium
  /// grpc-swift-2 over the HTTP/2 NIO Posix transport (plaintext), the same service and
  /// messages, handlers registered by hand.
  case grpc
  /// A bare SwiftNIO echo of `[u32 big-endian length][payload]` frames: the floor of what a framed
  /// protocol can do on this machine.
  case nio
}
