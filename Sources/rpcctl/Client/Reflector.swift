import Messages
import ProtoJSON
import RPC

/// Asks a server's ReflectionService about what it hosts and resolves the names users type
/// (short service names, the method forms of ``MethodReference``) to full names and schemas.
///
/// Every call carries the command's metadata and deadline, so servers that require an
/// `authorization` entry for reflection can be reached with `-H`.
struct Reflector: Sendable {
  let client: RpcV1.ReflectionService.Client
  let options: CallOptions

  init(_ transport: any ClientTransport, options: CallOptions) {
    self.client = RpcV1.ReflectionService.Client(transport)
    self.options = options
  }

  /// The full names of the hosted services, sorted.
  func serviceNames() async throws(CommandFailure) -> [String] {
    try await reflect { try await client.listServices(.init(), options: options).serviceNames }
  }

  /// A symbol's description and its types; nil when the server knows no such symbol.
  func describe(_ symbol: String) async throws(CommandFailure) -> RpcV1.DescribeSymbolResponse? {
    do {
      return try await reflect { try await client.describeSymbol(.with { $0.symbol = symbol }, options: options) }
    } catch where error.exitCode == Int32(RPCStatusCode.notFound.rawValue) {
      return nil
    }
  }

  /// The full name of the service `name` denotes.
  ///
  /// - Throws: ``CommandFailure`` with `unknownCode` naming the hosted services when none
  ///   matches, INVALID_ARGUMENT listing the candidates when a short name is ambiguous.
  func resolveService(_ name: String, unknownCode: RPCStatusCode) async throws(CommandFailure) -> String {
    let services = try await serviceNames()
    switch ServiceMatch(name, among: services) {
    case .found(let fullName):
      return fullName
    case .ambiguous(let candidates):
      throw CommandFailure(
        .invalidArgument, "service name '\(name)' is ambiguous; it matches \(candidates.joined(separator: ", "))")
    case .none(let suggestion):
      let hint = suggestion.map { " (did you mean '\($0)'?)" } ?? ""
      throw CommandFailure(
        unknownCode, "unknown service '\(name)'\(hint); the server hosts \(services.joined(separator: ", "))")
    }
  }

  /// The method `reference` names, with the schemas of every type its service uses.
  ///
  /// - Throws: ``CommandFailure`` with UNIMPLEMENTED (what calling it would give) naming the
  ///   service's methods, or the hosted services, when the method or service does not exist.
  func resolveMethod(_ reference: MethodReference) async throws(CommandFailure) -> ResolvedMethod {
    let serviceName = try await resolveService(reference.service, unknownCode: .unimplemented)
    let response = try await describe(serviceName)
    guard let response, case .serviceSchema(let service) = response.described else {
      throw CommandFailure(.unimplemented, "the server did not describe service '\(serviceName)'")
    }
    var catalog = SchemaCatalog()
    catalog.add(response)
    guard let method = service.methods.first(where: { $0.name == reference.method }) else {
      let names = service.methods.map(\.name)
      throw CommandFailure(
        .unimplemented,
        "unknown method '\(reference.method)' in \(serviceName)\(Suggestions.hint(for: reference.method, in: names)); its methods are \(names.joined(separator: ", "))"
      )
    }
    return try ResolvedMethod(schema: method, catalog: catalog)
  }

  /// Runs one reflection call, turning its failure into a ``CommandFailure``.
  private func reflect<Result: Sendable>(_ body: () async throws -> Result) async throws(CommandFailure) -> Result {
    do {
      return try await body()
    } catch let error as RPCError where error.code == .unimplemented {
      throw CommandFailure(
        .unimplemented, "the server does not offer reflection (emporium.rpc.v1.ReflectionService), which rpcctl needs: \(error.message)")
    } catch let error as RPCError {
      throw CommandFailure(error)
    } catch let error as CommandFailure {
      throw error
    } catch {
      throw CommandFailure(.unknown, "reflection failed: \(error)")
    }
  }
}
