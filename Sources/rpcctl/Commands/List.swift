import ArgumentParser
import Messages
import RPC

extension Rpcctl {
  /// `rpcctl list [SERVICE]`: the hosted services, or one service's methods, one per line.
  struct List: TerminalCommand {
    static let configuration = CommandConfiguration(
      abstract: "List the services a server hosts, or the methods of one service.",
      discussion: """
        Without SERVICE, prints each hosted service's full name. With SERVICE (a full name, or a \
        short one such as EchoService when unambiguous), prints each method as \
        package.Service.Method, a form `describe` and `call` accept.
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var settings: CallSettings

    @Argument(help: "A service whose methods to list.")
    var service: String?

    func execute(on terminal: Terminal) async throws -> Int32 {
      try await Session.with(connection, terminal: terminal) { session in
        let reflector = Reflector(session.connection, options: settings.callOptions)
        var text = ""
        if let service {
          let fullName = try await reflector.resolveService(service, unknownCode: .notFound)
          let response = try await reflector.describe(fullName)
          guard let response, case .serviceSchema(let schema) = response.described else {
            throw CommandFailure(.notFound, "the server did not describe service '\(fullName)'")
          }
          for method in schema.methods { text += "\(fullName).\(method.name)\n" }
        } else {
          for name in try await reflector.serviceNames() { text += name + "\n" }
        }
        terminal.output.write(text)
        return 0
      }
    }
  }
}
