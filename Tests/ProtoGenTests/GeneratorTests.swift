import Foundation
import Testing

@testable import ProtoGen

@Suite("emporium-protogen")
struct GeneratorTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The descriptor set of every file under proto/, as `make generate` builds it.
  static func descriptorSet() throws -> [FileDescriptor] {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("protogen-\(UUID().uuidString).pb")
    defer { try? FileManager.default.removeItem(at: output) }
    let protos = try FileManager.default.subpathsOfDirectory(atPath: root.appendingPathComponent("proto").path)
      .filter { $0.hasSuffix(".proto") }.sorted()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/protoc-c")
    process.currentDirectoryURL = root.appendingPathComponent("proto")
    process.arguments = ["-I.", "-I/usr/include", "--include_imports", "--include_source_info",
      "--descriptor_set_out=\(output.path)"] + protos
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    return try FileDescriptor.set(from: [UInt8](Data(contentsOf: output)))
  }

  @Test("C names match what protoc-c generated for every message and enum in proto/")
  func cNamesMatchProtocC() throws {
    let files = try Self.descriptorSet().filter { !$0.declaresOptionsOnly }
    let types = TypeTable(files: files, stripPrefix: "emporium")
    let headers = try ["Sources/ProtoC/include", "Sources/CommerceProtoC/include"].map { directory in
      let include = Self.root.appendingPathComponent(directory)
      return try FileManager.default.subpathsOfDirectory(atPath: include.path)
        .filter { $0.hasSuffix(".h") }
        .map { try String(contentsOf: include.appendingPathComponent($0), encoding: .utf8) }
        .joined()
    }.joined()
    #expect(types.entries.count > 300)
    for entry in types.entries.values {
      if entry.message != nil {
        #expect(headers.contains("struct  \(entry.cName)\n"), "struct \(entry.cName) for \(entry.fullName)")
        #expect(headers.contains("\(entry.cLower)__descriptor;"), "descriptor of \(entry.fullName)")
      } else {
        #expect(headers.contains("} \(entry.cName);"), "enum \(entry.cName) for \(entry.fullName)")
      }
    }
  }

  @Test("descriptor sets decode with services, streaming kinds, maps, oneofs and comments")
  func descriptors() throws {
    let files = try Self.descriptorSet()
    let echo = try #require(files.first { $0.name == "emporium/rpc/v1/echo.proto" })
    let service = try #require(echo.services.first)
    #expect(service.methods.map { [$0.clientStreaming, $0.serverStreaming] } == [[false, false], [false, true], [true, false], [true, true]])
    #expect(echo.comments[[6, 0]]?.isEmpty == false)
    let conformance = try #require(files.first { $0.name == "emporium/testing/v1/conformance.proto" })
    let allTypes = try #require(conformance.messages.first { $0.name == "AllTypes" })
    #expect(allTypes.oneofs == ["choice"])
    #expect(allTypes.nested.filter(\.isMapEntry).count == 5)
    #expect(allTypes.enums.first?.values.map(\.number) == [0, 1, 2, -1])
  }

  @Test("the access option is read from method options; options files and descriptor.proto get no code")
  func accessOption() throws {
    let files = try Self.descriptorSet()
    let auth = try #require(files.first { $0.name == "emporium/commerce/v1/auth.proto" })
    let methods = try #require(auth.services.first).methods
    let login = try #require(methods.first { $0.name == "Login" })
    #expect(login.access == AccessRule(anonymous: true))
    let assignRole = try #require(methods.first { $0.name == "AssignRole" })
    #expect(assignRole.access?.roles == ["ADMIN"])
    #expect(assignRole.idempotencyLevel == 2)
    #expect(files.filter(\.declaresOptionsOnly).map(\.name).sorted() == ["emporium/rpc/v1/options.proto", "google/protobuf/descriptor.proto"])
    #expect(SwiftEmitter.swiftLiteral(AccessRule(roles: ["ADMIN"], owner: true, services: ["admin"]))
      == #"ProtoAccessRule(roles: ["ADMIN"], owner: true, services: ["admin"])"#)
  }

  @Test("module specs parse, and the catch-all spec takes what no other spec names")
  func moduleSpecs() throws {
    let runtime = try ModuleSpec(parsing: "Messages:RPC:ProtoC:*:a:b:c")
    let commerce = try ModuleSpec(parsing: "CommerceAPI:CommerceAPI:CommerceProtoC:emporium.commerce.v1:d:d:e")
    let specs = [runtime, commerce]
    #expect(commerce.owns(package: "emporium.commerce.v1", among: specs))
    #expect(!runtime.owns(package: "emporium.commerce.v1", among: specs))
    #expect(runtime.owns(package: "emporium.rpc.v1", among: specs))
    #expect(runtime.registryName == "messages" && commerce.registryName == "commerceAPI")
    #expect(runtime.rpcImports == ["Messages"])
    #expect(commerce.rpcImports == ["Messages", "RPC"])
    #expect(throws: ModuleSpec.Malformed.self) { try ModuleSpec(parsing: "Messages:RPC") }
  }

  @Test("nesting depth: bounded types get their depth, self-containing types are unbounded")
  func depths() throws {
    let types = TypeTable(files: try Self.descriptorSet(), stripPrefix: "emporium")
    #expect(types.maxDepth["emporium.testing.v1.Item"] == 1)
    // AllTypes -> map entry -> Item: a map entry is a message level on the wire.
    #expect(types.maxDepth["emporium.testing.v1.AllTypes"] == 3)
    #expect(types.maxDepth["emporium.testing.v1.Node"] == Int.max)
    #expect(types.embeds("emporium.testing.v1.Node", "emporium.testing.v1.Node"))
    #expect(!types.embeds("emporium.testing.v1.AllTypes", "emporium.testing.v1.AllTypes"))
  }

  @Test("Swift names: namespaces, enum cases, keywords")
  func swiftNames() {
    #expect(Naming.namespace(forPackage: "emporium.commerce.v1", strippingPrefix: "emporium") == "CommerceV1")
    #expect(Naming.namespace(forPackage: "google.protobuf", strippingPrefix: "emporium") == "GoogleProtobuf")
    #expect(Naming.enumCaseName("ORDER_STATUS_PENDING_PAYMENT", enumName: "OrderStatus") == "pendingPayment")
    #expect(Naming.enumCaseName("FIELD_KIND_ENUM", enumName: "FieldKind") == "`enum`")
    #expect(Naming.enumCaseName("COLOR_DARK_GREEN", enumName: "Color") == "darkGreen")
    #expect(Naming.lowerCamel("response_payload_size") == "responsePayloadSize")
    #expect(Naming.swiftIdentifier("self") == "self_")
    #expect(Naming.cFieldName("default") == "default_")
    #expect(Naming.cTypeName("emporium.my_pkg.v1.Thing") == "Emporium__MyPkg__V1__Thing")
    #expect(Naming.cLowerName("emporium.v1.ByIdEntry") == "emporium__v1__by_id_entry")
  }

  @Test("an rpc whose C name would be a keyword is reported with the file and the rpc")
  func keywordRPC() throws {
    var files = try Self.descriptorSet()
    let index = try #require(files.firstIndex { !$0.services.isEmpty })
    files[index].services[0].methods[0].name = "Register"
    let problems = Validation.problems(in: files)
    #expect(problems.count == 1)
    #expect(problems.first?.contains("Register") == true && problems.first?.contains("'register'") == true)
  }

  @Test("malformed descriptor bytes are an error, not a crash")
  func malformed() {
    #expect(throws: WireReader.Malformed.self) { try FileDescriptor.set(from: [0x0A, 0x05, 0x01]) }
    #expect(throws: WireReader.Malformed.self) { try FileDescriptor.set(from: [0x0A, 0x80]) }
  }
}
