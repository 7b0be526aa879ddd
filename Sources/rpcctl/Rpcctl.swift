import ArgumentParser

/// `rpcctl`: a debugging client for Emporium servers that needs no compiled stubs. It asks the
/// server's reflection service for schemas and converts requests and responses between proto3
/// JSON and protobuf. See docs/RPCCTL.md.
@main
struct Rpcctl: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rpcctl",
    abstract: "Call Emporium RPC services with JSON, using the server's reflection.",
    discussion: """
      The exit status of a call is its status code (0 for OK, 5 for NOT_FOUND...); failures \
      print one line on standard error. Command-line mistakes exit with 64.
      """,
    subcommands: [List.self, Describe.self, Call.self, Health.self, Ping.self]
  )
}
