import ArgumentParser

/// `echo-bench`: Emporium's echo over loopback against grpc-swift-2 and a bare SwiftNIO
/// length-prefixed echo, with servers and clients in separate processes.
///
/// `run` is the whole benchmark (it starts `server` and `client` processes, alternating the
/// implementations, and prints the tables for docs/PERFORMANCE.md); the other subcommands are
/// its parts, runnable by hand. See docs/PERFORMANCE.md, "RPC: echo over loopback". `pool`,
/// `soak` and `idle-memory` measure the client pool and memory per connection ("RPC: client
/// pool"). `auth` measures `AuthInterceptor` against the same echo without it ("Auth
/// interceptor").
@main
struct EchoBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "echo-bench",
    abstract: "Echo over loopback: Emporium vs grpc-swift-2 vs bare SwiftNIO.",
    subcommands: [
      RunCommand.self, ReportCommand.self, ServerCommand.self, ClientCommand.self, IdleCommand.self, ZstdStreamingCommand.self,
      MallocCheckCommand.self, PoolCommand.self, SoakCommand.self, SoakClientCommand.self, IdleMemoryCommand.self,
      AuthCommand.self,
    ]
  )
}
