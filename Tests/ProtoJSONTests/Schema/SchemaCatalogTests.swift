import CommerceAPI
import Messages
import RPC
import Testing

@testable import ProtoJSON

@Suite("SchemaCatalog: from a generated registry and from reflection")
struct SchemaCatalogTests {
  @Test(
    "a catalog built from the registries holds the schemas reflection describes",
    arguments: ["emporium.testing.v1.AllTypes", "emporium.rpc.v1.EchoRequest", "emporium.commerce.v1.CheckoutResponse"])
  func sameAsReflection(symbol: String) async throws {
    let types = ProtoTypeRegistry.messages.merging(.commerceAPI)
    let reflection = ReflectionService(hosted: [], types: types)
    let context = ServerContext(
      method: RpcV1.ReflectionService.DescribeSymbol.descriptor, metadata: [:], deadline: nil, peer: "test", callID: 1)
    var described = SchemaCatalog()
    described.add(try await reflection.describeSymbol(request: .with { $0.symbol = symbol }, context: context))
    let built = SchemaCatalog(registry: .commerceAPI)
    #expect(described.messages[symbol] != nil)
    for (name, message) in described.messages {
      #expect(built.messages[name] == message, "\(name)")
    }
    for (name, enumeration) in described.enums {
      #expect(built.enums[name] == enumeration, "\(name)")
    }
  }

  @Test("a registry's catalog includes the runtime's own types, which its messages use")
  func runtimeTypesIncluded() {
    let catalog = SchemaCatalog(registry: .commerceAPI)
    #expect(catalog.containsMessage(named: "emporium.commerce.v1.CheckoutRequest"))
    #expect(catalog.containsMessage(named: "google.protobuf.Timestamp"))
    #expect(!catalog.containsMessage(named: "emporium.commerce.v1.Nope"))
    #expect(catalog.enums["emporium.commerce.v1.OrderStatus"]?.values.first?.name == "ORDER_STATUS_UNSPECIFIED")
  }
}
