import Messages
import Testing

@Suite("Generated service descriptions")
struct ServiceDescriptionTests {
  @Test("the echo service describes all four call kinds with full paths and types")
  func echoService() {
    let methods = RpcV1.EchoService.methods
    #expect(methods.map(\.kind) == [.unary, .serverStreaming, .clientStreaming, .bidirectionalStreaming])
    #expect(methods.first?.path == "/emporium.rpc.v1.EchoService/Echo")
    #expect(RpcV1.EchoService.Echo.descriptor.inputType == RpcV1.EchoService.Echo.Input.protoMessageName)
    #expect(RpcV1.EchoService.Echo.descriptor.outputType == "emporium.rpc.v1.EchoResponse")
  }

  @Test("the registry lists every message type and service")
  func registry() {
    #expect(ProtoTypeRegistry.messages.messageTypes["emporium.testing.v1.AllTypes"] == TestingV1.AllTypes.self)
    #expect(ProtoTypeRegistry.messages.messageTypes["google.protobuf.Timestamp"] != nil)
    #expect(ProtoTypeRegistry.messages.services.contains { $0.name == "emporium.rpc.v1.HealthService" })
    for (name, type) in ProtoTypeRegistry.messages.messageTypes {
      #expect(type.protoMessageName == name)
    }
  }
}
