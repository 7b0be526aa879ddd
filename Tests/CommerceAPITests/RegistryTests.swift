import CommerceAPI
import Messages
import RPC
import Testing

/// The commerce contract lives in its own module; reflection still describes its messages when
/// a server hosts a commerce service.
@Suite struct RegistryTests {
  @Test func runtimeRegistryHoldsNoCommerceTypes() {
    #expect(ProtoTypeRegistry.messages.messageTypes.keys.allSatisfy { !$0.hasPrefix("emporium.commerce.") })
    #expect(ProtoTypeRegistry.messages.services.allSatisfy { !$0.name.hasPrefix("emporium.commerce.") })
    #expect(ProtoTypeRegistry.commerceAPI.messageTypes["emporium.commerce.v1.LoginRequest"] == CommerceV1.LoginRequest.self)
  }

  @Test func reflectionDescribesCommerceMessages() async throws {
    let reflection = ReflectionService(
      hosted: [CommerceV1.AuthService.descriptor], types: ProtoTypeRegistry.messages.merging(.commerceAPI))
    let context = ServerContext(
      method: RpcV1.ReflectionService.DescribeSymbol.descriptor, metadata: [:], deadline: nil, peer: "test", callID: 1)
    let response = try await reflection.describeSymbol(
      request: .with { $0.symbol = "emporium.commerce.v1.AuthService.Login" }, context: context)
    let names = Set(response.messageTypes.map(\.fullName))
    #expect(names.contains("emporium.commerce.v1.LoginRequest"))
    #expect(names.contains("emporium.commerce.v1.User"))
    #expect(names.contains("google.protobuf.Timestamp"))
    #expect(response.enumTypes.map(\.fullName).contains("emporium.commerce.v1.Role"))
  }

  @Test func errorReasonStrings() {
    #expect(CommerceV1.ErrorReason.insufficientStock.reason == "INSUFFICIENT_STOCK")
    #expect(CommerceV1.ErrorReason.domain == "commerce.emporium")
  }
}
