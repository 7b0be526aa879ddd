import Messages
import NIOCore
import RPC

@testable import ProtoJSON

/// Schemas as the real reflection service describes them, without a network.
enum TestSchemas {
  /// A catalog with everything `symbol` uses, from ``ReflectionService/describeSymbol``.
  static func catalog(for symbol: String) async throws -> SchemaCatalog {
    var catalog = SchemaCatalog()
    catalog.add(try await describe(symbol))
    return catalog
  }

  static func describe(_ symbol: String) async throws -> RpcV1.DescribeSymbolResponse {
    let service = ReflectionService(hosted: [RpcV1.EchoService.descriptor])
    let context = ServerContext(
      method: RpcV1.ReflectionService.DescribeSymbol.descriptor, metadata: [:], deadline: nil, peer: "test", callID: 1)
    return try await service.describeSymbol(request: .with { $0.symbol = symbol }, context: context)
  }

  static let allTypes = "emporium.testing.v1.AllTypes"
}

/// JSON ⇄ protobuf through ``JSONMessageCodec``, and against the compiled bindings.
struct Codec {
  let catalog: SchemaCatalog
  let typeName: String
  var emitDefaults = false

  static func allTypes() async throws -> Codec {
    Codec(catalog: try await TestSchemas.catalog(for: TestSchemas.allTypes), typeName: TestSchemas.allTypes)
  }

  private var codec: JSONMessageCodec { JSONMessageCodec(schema: catalog, emitDefaultValues: emitDefaults) }

  /// JSON text → wire bytes.
  func encode(_ json: String) throws -> [UInt8] {
    Array(try codec.encode(json: json, messageType: typeName).readableBytesView)
  }

  /// Wire bytes → compact JSON text.
  func decode(_ bytes: [UInt8]) throws -> String {
    try codec.json(from: bytes, messageType: typeName)
  }

  /// JSON text → wire → JSON text.
  func roundTrip(_ json: String) throws -> String {
    try decode(try encode(json))
  }

  /// JSON text → the compiled `AllTypes`, decoded by protobuf-c.
  func compiled(_ json: String) throws -> TestingV1.AllTypes {
    try TestingV1.AllTypes(serializedBytes: try encode(json))
  }

  /// The compiled `AllTypes`, encoded by protobuf-c → JSON text.
  func json(of message: TestingV1.AllTypes) throws -> String {
    try decode(try message.serializedBytes())
  }

  /// The error message converting `json` gives.
  func error(_ json: String) -> String? {
    do {
      _ = try encode(json)
      return nil
    } catch {
      return "\(error)"
    }
  }
}
