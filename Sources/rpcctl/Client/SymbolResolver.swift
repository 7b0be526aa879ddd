import Messages
import ProtoJSON
import RPC

/// Finds what a `describe` argument names: the server's own lookup first, then the forms and
/// short names it does not know (`EchoService/Echo`, `EchoService`, `EchoRequest`).
struct SymbolResolver: Sendable {
  let reflector: Reflector

  /// The description of `symbol`.
  ///
  /// - Throws: ``CommandFailure`` NOT_FOUND when nothing matches, INVALID_ARGUMENT listing
  ///   the candidates when a short name matches several types.
  func describe(_ symbol: String) async throws(CommandFailure) -> RpcV1.DescribeSymbolResponse {
    let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
    if let response = try await reflector.describe(name) { return response }

    let services = try await reflector.serviceNames()
    if case .found(let service) = ServiceMatch(name, among: services) {
      if let response = try await reflector.describe(service) { return response }
    }
    if let reference = MethodReference(parsing: name), case .found(let service) = ServiceMatch(reference.service, among: services) {
      if let response = try await reflector.describe("\(service).\(reference.method)") { return response }
      let described = try await reflector.describe(service)
      guard let described, case .serviceSchema(let schema) = described.described else {
        throw CommandFailure(.notFound, "no method '\(reference.method)' in \(service)")
      }
      let names = schema.methods.map(\.name)
      throw CommandFailure(
        .notFound,
        "no method '\(reference.method)' in \(service)\(Suggestions.hint(for: reference.method, in: names)); its methods are \(names.joined(separator: ", "))"
      )
    }

    // A short message or enum name: look through every type the hosted services use.
    var typeNames: Set<String> = []
    for service in services {
      guard let response = try await reflector.describe(service) else { continue }
      typeNames.formUnion(response.messageTypes.map(\.fullName))
      typeNames.formUnion(response.enumTypes.map(\.fullName))
    }
    let matches = typeNames.filter { $0.hasSuffix("." + name) }.sorted()
    if matches.count == 1 {
      if let response = try await reflector.describe(matches[0]) { return response }
    }
    if matches.count > 1 {
      throw CommandFailure(.invalidArgument, "'\(name)' is ambiguous; it matches \(matches.joined(separator: ", "))")
    }
    let short = typeNames.map(ProtoText.simpleName) + services.map(ProtoText.simpleName)
    throw CommandFailure(
      .notFound, "no service, method, message or enum named '\(name)' on the server\(Suggestions.hint(for: name, in: short))")
  }
}
