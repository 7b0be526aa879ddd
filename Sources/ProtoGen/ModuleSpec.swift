/// One group of generated targets: which proto packages go there, and where each kind of code
/// is written. `make generate` passes one spec per group, for example the runtime
/// (`emporium.rpc.v1` into Messages, RPC and ProtoC) and the commerce contract (into
/// CommerceAPI and CommerceProtoC).
///
/// Command-line form: `SWIFT_MODULE:RPC_MODULE:C_MODULE:PACKAGES:SWIFT_OUT:RPC_OUT:C_INCLUDE_OUT`,
/// where PACKAGES is a comma-separated list of proto packages, or `*` for every package no
/// other spec names.
struct ModuleSpec: Equatable {
  /// The module that holds the message runtime (ProtoMessage, ProtoCodec, ...).
  static let runtimeModule = "Messages"
  /// The module that holds the RPC runtime (RPCRouter, ClientTransport, ...).
  static let rpcRuntimeModule = "RPC"

  var swiftModule: String
  var rpcModule: String
  var cModule: String
  var packages: [String]
  var swiftOut: String
  var rpcOut: String
  var cIncludeOut: String

  struct Malformed: Error, CustomStringConvertible {
    var description: String
  }

  init(parsing text: String) throws {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard parts.count == 7, !parts.contains(where: \.isEmpty) else {
      throw Malformed(description: "module spec '\(text)' is not SWIFT_MODULE:RPC_MODULE:C_MODULE:PACKAGES:SWIFT_OUT:RPC_OUT:C_INCLUDE_OUT")
    }
    swiftModule = parts[0]
    rpcModule = parts[1]
    cModule = parts[2]
    packages = parts[3].split(separator: ",").map(String.init)
    swiftOut = parts[4]
    rpcOut = parts[5]
    cIncludeOut = parts[6]
  }

  /// Whether this spec takes a file of `package`, given every spec (the `*` spec takes what
  /// no other spec names).
  func owns(package: String, among specs: [ModuleSpec]) -> Bool {
    if packages.contains(package) { return true }
    guard packages == ["*"] else { return false }
    return !specs.contains { $0.packages.contains(package) }
  }

  /// The name of the generated `ProtoTypeRegistry` member: the Swift module's name in
  /// lowerCamel (`messages`, `commerceAPI`).
  var registryName: String { swiftModule.prefix(1).lowercased() + swiftModule.dropFirst() }

  /// The modules a service file imports publicly: the runtimes and the messages' module,
  /// except the one it is compiled into.
  var rpcImports: [String] {
    var names: [String] = []
    for name in [Self.runtimeModule, Self.rpcRuntimeModule, swiftModule] where name != rpcModule && !names.contains(name) {
      names.append(name)
    }
    return names
  }
}
