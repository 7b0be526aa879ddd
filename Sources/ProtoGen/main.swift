// emporium-protogen: proto/ -> Swift bindings over protobuf-c.
//
// Usage: emporium-protogen DESCRIPTOR_SET STRIP_PREFIX MODULE_SPEC...
//
// DESCRIPTOR_SET is what `protoc-c --descriptor_set_out --include_imports --include_source_info`
// writes for every file under proto/. Each MODULE_SPEC (see ModuleSpec) names the proto
// packages of one group of targets and where their Swift messages, service stubs and C module
// files go. `make generate` (scripts/generate.sh) runs the whole pipeline; run that rather than
// this tool directly.
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
  FileHandle.standardError.write(
    Data("usage: emporium-protogen DESCRIPTOR_SET STRIP_PREFIX SWIFT_MODULE:RPC_MODULE:C_MODULE:PACKAGES:SWIFT_OUT:RPC_OUT:C_INCLUDE_OUT...\n".utf8))
  exit(2)
}

do {
  let data = try Data(contentsOf: URL(fileURLWithPath: arguments[1]))
  let allFiles = try FileDescriptor.set(from: [UInt8](data))
  let stripPrefix = arguments[2]
  let specs = try arguments.dropFirst(3).map(ModuleSpec.init(parsing:))
  // Files that only declare options (and descriptor.proto itself) get no code: the generator
  // copies the options they declare into the descriptions of the methods that use them.
  let files = allFiles.filter { !$0.declaresOptionsOnly }
  let types = TypeTable(files: files, stripPrefix: stripPrefix)
  var problems = Validation.problems(in: files)
  for file in files where !specs.contains(where: { $0.owns(package: file.package, among: specs) }) {
    problems.append("\(file.name): no module spec takes package '\(file.package)'")
  }
  guard problems.isEmpty else {
    FileHandle.standardError.write(Data(problems.map { "emporium-protogen: \($0)\n" }.joined().utf8))
    exit(1)
  }

  func write(_ text: String, to url: URL) throws {
    try Data(text.utf8).write(to: url, options: .atomic)
  }

  for spec in specs {
    let swiftOut = URL(fileURLWithPath: spec.swiftOut)
    let rpcOut = URL(fileURLWithPath: spec.rpcOut)
    let includeOut = URL(fileURLWithPath: spec.cIncludeOut)
    for directory in [swiftOut, rpcOut, includeOut] {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    let owned = files.filter { spec.owns(package: $0.package, among: specs) }
    for file in owned {
      let namespace = Naming.namespace(forPackage: file.package, strippingPrefix: stripPrefix)
      let emitter = SwiftEmitter(file: file, types: types, namespace: namespace, module: spec)
      let name = file.name.replacingSuffix(".proto", with: "").replacingOccurrences(of: "/", with: "_")
      try write(emitter.emit(), to: swiftOut.appendingPathComponent(name + ".pb.swift"))
      let rpc = RPCEmitter(file: file, types: types, namespace: namespace, module: spec)
      if rpc.hasServices {
        try write(rpc.emit(), to: rpcOut.appendingPathComponent(name + ".rpc.swift"))
      }
    }
    let support = SupportEmitter(files: owned, types: types, stripPrefix: stripPrefix, module: spec)
    try write(support.namespaces(), to: swiftOut.appendingPathComponent("Namespaces.pb.swift"))
    try write(support.registry(), to: swiftOut.appendingPathComponent("ProtoTypeRegistry+\(spec.swiftModule).pb.swift"))
    try write(support.umbrellaHeader(), to: includeOut.appendingPathComponent(spec.cModule + ".h"))
    try write(support.moduleMap(), to: includeOut.appendingPathComponent("module.modulemap"))
  }
} catch {
  FileHandle.standardError.write(Data("emporium-protogen: \(error)\n".utf8))
  exit(1)
}
