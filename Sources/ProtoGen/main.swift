// emporium-protogen: proto/ -> Swift bindings over protobuf-c.
//
// Usage: emporium-protogen DESCRIPTOR_SET SWIFT_OUT_DIR PROTOC_INCLUDE_DIR RPC_OUT_DIR [STRIP_PREFIX]
//
// DESCRIPTOR_SET is what `protoc-c --descriptor_set_out --include_imports --include_source_info`
// writes for every file under proto/. `make generate` (scripts/generate.sh) runs the whole
// pipeline; run that rather than this tool directly.
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 5 || arguments.count == 6 else {
  FileHandle.standardError.write(
    Data("usage: emporium-protogen DESCRIPTOR_SET SWIFT_OUT_DIR PROTOC_INCLUDE_DIR RPC_OUT_DIR [STRIP_PREFIX]\n".utf8))
  exit(2)
}

do {
  let data = try Data(contentsOf: URL(fileURLWithPath: arguments[1]))
  let files = try FileDescriptor.set(from: [UInt8](data))
  let stripPrefix = arguments.count == 6 ? arguments[5] : "emporium"
  let types = TypeTable(files: files, stripPrefix: stripPrefix)
  let problems = Validation.problems(in: files)
  guard problems.isEmpty else {
    FileHandle.standardError.write(Data(problems.map { "emporium-protogen: \($0)\n" }.joined().utf8))
    exit(1)
  }
  let swiftOut = URL(fileURLWithPath: arguments[2])
  let includeOut = URL(fileURLWithPath: arguments[3])
  let rpcOut = URL(fileURLWithPath: arguments[4])
  try FileManager.default.createDirectory(at: swiftOut, withIntermediateDirectories: true)
  try FileManager.default.createDirectory(at: rpcOut, withIntermediateDirectories: true)

  func write(_ text: String, to url: URL) throws {
    try Data(text.utf8).write(to: url, options: .atomic)
  }

  for file in files {
    let namespace = Naming.namespace(forPackage: file.package, strippingPrefix: stripPrefix)
    let emitter = SwiftEmitter(file: file, types: types, namespace: namespace)
    let name = file.name.replacingSuffix(".proto", with: "").replacingOccurrences(of: "/", with: "_")
    try write(emitter.emit(), to: swiftOut.appendingPathComponent(name + ".pb.swift"))
    let rpc = RPCEmitter(file: file, types: types, namespace: namespace)
    if rpc.hasServices {
      try write(rpc.emit(), to: rpcOut.appendingPathComponent(name + ".rpc.swift"))
    }
  }
  let support = SupportEmitter(files: files, types: types, stripPrefix: stripPrefix)
  try write(support.namespaces(), to: swiftOut.appendingPathComponent("Namespaces.pb.swift"))
  try write(support.registry(), to: swiftOut.appendingPathComponent("ProtoRegistry.pb.swift"))
  try write(support.umbrellaHeader(), to: includeOut.appendingPathComponent("ProtoC.h"))
  try write(support.moduleMap(), to: includeOut.appendingPathComponent("module.modulemap"))
} catch {
  FileHandle.standardError.write(Data("emporium-protogen: \(error)\n".utf8))
  exit(1)
}
