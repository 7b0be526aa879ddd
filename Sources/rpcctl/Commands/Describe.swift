import ArgumentParser
import Messages
import ProtoJSON
import RPC

extension Rpcctl {
  /// `rpcctl describe SYMBOL`: a service, method, message or enum as .proto-like text.
  struct Describe: TerminalCommand {
    static let configuration = CommandConfiguration(
      abstract: "Describe a service, method, message or enum as .proto-like text.",
      discussion: """
        SYMBOL is a full name (emporium.rpc.v1.EchoService, emporium.rpc.v1.EchoRequest), a \
        method (emporium.rpc.v1.EchoService.Echo, EchoService/Echo, /emporium.rpc.v1.EchoService/Echo) \
        or a short name that is unambiguous on the server (EchoService, EchoRequest).
        """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var settings: CallSettings

    @Argument(help: "The service, method, message or enum.")
    var symbol: String

    @Flag(help: "Also print every message and enum the symbol uses.")
    var types = false

    func execute(on terminal: Terminal) async throws -> Int32 {
      try await Session.with(connection, terminal: terminal) { session in
        let reflector = Reflector(session.connection, options: settings.callOptions)
        let response = try await SymbolResolver(reflector: reflector).describe(symbol)
        terminal.output.write(Self.render(response, withTypes: types))
        return 0
      }
    }

    /// The described symbol, then (with `withTypes`) the other top-level types it uses.
    static func render(_ response: RpcV1.DescribeSymbolResponse, withTypes: Bool) -> String {
      var catalog = SchemaCatalog()
      catalog.add(response)
      let renderer = ProtoText(catalog: catalog)
      var text: String
      var shown: String?
      switch response.described {
      case .serviceSchema(let service): text = renderer.service(service)
      case .methodSchema(let method): text = renderer.method(method)
      case .messageSchema(let message):
        text = renderer.message(MessageType(message))
        shown = message.fullName
      case .enumSchema(let enumeration):
        text = renderer.enumeration(EnumType(enumeration))
        shown = enumeration.fullName
      case nil: text = ""
      }
      guard withTypes else { return text }
      // Nested types are written inside their parents, so only top-level ones start a block.
      let isTopLevel = { (name: String) in
        name != shown && catalog.messages[String(name[..<(name.lastIndex(of: ".") ?? name.startIndex)])] == nil
      }
      for name in catalog.messages.keys.sorted() where isTopLevel(name) {
        text += "\n" + renderer.message(catalog.messages[name]!)
      }
      for name in catalog.enums.keys.sorted() where isTopLevel(name) {
        text += "\n" + renderer.enumeration(catalog.enums[name]!)
      }
      return text
    }
  }
}
